using System.Threading.Channels;

namespace StreamDeblur;

/// <summary>The static facts of a video source, known once it is open.</summary>
public sealed record VideoInfo(int Width, int Height, double FramesPerSecond, long FrameCount, bool IsLive);

/// <summary>A stage at the head of a stream: decodes frames and writes them, in order, to its output.</summary>
public interface IFrameSource : IAsyncDisposable
{
    /// <summary>The stream's facts; valid once <see cref="OpenAsync"/> has returned.</summary>
    VideoInfo Info { get; }

    /// <summary>Opens the source, or throws <see cref="SourceException"/> naming what is wrong.</summary>
    Task OpenAsync(CancellationToken cancellationToken);

    /// <summary>Reads until the end of the stream or cancellation; completes <paramref name="output"/> when done.</summary>
    Task RunAsync(ChannelWriter<Frame> output, CancellationToken cancellationToken);
}

/// <summary>A stage at the tail of a stream: writes frames, in order, somewhere durable or live.</summary>
public interface IFrameSink : IDisposable
{
    /// <summary>Writes one frame. The caller keeps ownership of the frame.</summary>
    void Write(Frame frame);

    /// <summary>Flushes and closes the output so that it is playable.</summary>
    void Complete();
}

/// <summary>
/// A sink that writes files. Each file is written under its partial name (<see cref="OutputNames.Partial"/>)
/// and renamed into place by <see cref="Publish"/>, which the pipeline calls only when the stream ended well.
/// </summary>
public interface IFileSink : IFrameSink
{
    /// <summary>The files written so far, in order, where they are on disk now (partial names until published).</summary>
    IReadOnlyList<string> Files { get; }

    long FramesWritten { get; }

    /// <summary>After <see cref="IFrameSink.Complete"/>: renames every file to its final name.</summary>
    void Publish();
}

/// <summary>A source could not be opened or read. The message names the source and the problem.</summary>
public sealed class SourceException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>A sink could not be opened or written.</summary>
public sealed class SinkException(string message, Exception? inner = null) : Exception(message, inner);
