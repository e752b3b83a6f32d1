using System.Threading.Channels;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;
using StreamDeblur.Video;
using Xunit;

namespace StreamDeblur.Tests;

public sealed class FileVideoTests
{
    [Fact]
    public async Task FileSourceReadsEveryFrameInOrderWithTimestamps()
    {
        await using var source = new FileFrameSource("s", TestPaths.SampleClip, NullLogger.Instance);
        await source.OpenAsync(CancellationToken.None);
        ProbeResult probe = FfProbe.Probe(TestPaths.SampleClip);
        Assert.Equal(probe.Width, source.Info.Width);
        Assert.Equal(probe.Height, source.Info.Height);
        Assert.Equal(probe.Fps, source.Info.FramesPerSecond, precision: 2);

        var channel = Channel.CreateBounded<Frame>(4);
        Task run = source.RunAsync(channel.Writer, CancellationToken.None);
        var sequences = new List<long>();
        var timestamps = new List<TimeSpan>();
        await foreach (Frame frame in channel.Reader.ReadAllAsync())
        {
            using (frame)
            {
                Assert.Equal(MatType.CV_8UC3, frame.Image.Type());
                sequences.Add(frame.Sequence);
                timestamps.Add(frame.Timestamp);
            }
        }

        await run;
        Assert.Equal(probe.Frames, sequences.Count);
        Assert.Equal(Enumerable.Range(0, probe.Frames).Select(i => (long)i), sequences);
        Assert.True(timestamps.Zip(timestamps.Skip(1)).All(p => p.Second > p.First), "timestamps must increase");
        Assert.Equal((probe.Frames - 1) / probe.Fps, timestamps[^1].TotalSeconds, precision: 1);
    }

    [Fact]
    public async Task MissingAndEmptyFilesAreNamed()
    {
        await using var missing = new FileFrameSource("s", "/no/such/clip.mp4", NullLogger.Instance);
        var ex = await Assert.ThrowsAsync<SourceException>(() => missing.OpenAsync(CancellationToken.None));
        Assert.Contains("not found", ex.Message);
        Assert.Contains("/no/such/clip.mp4", ex.Message);

        string empty = Path.Combine(TestPaths.TempDir("empty"), "empty.mp4");
        File.WriteAllBytes(empty, []);
        await using var emptySource = new FileFrameSource("s", empty, NullLogger.Instance);
        ex = await Assert.ThrowsAsync<SourceException>(() => emptySource.OpenAsync(CancellationToken.None));
        Assert.Contains("empty", ex.Message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(0.5)]
    public void FileSinkWritesAPlayableVideoWithEveryFrame(double segmentSeconds)
    {
        string dir = TestPaths.TempDir("sink");
        string path = Path.Combine(dir, "out.mkv");
        const int frames = 23;
        using (var sink = new VideoFileSink("s", path, 10, segmentSeconds, NullLogger.Instance))
        {
            for (int i = 0; i < frames; i++)
            {
                using var frame = new Frame("s", i, TimeSpan.FromMilliseconds(i * 100), new Mat(121, 161, MatType.CV_8UC3, Scalar.All(i * 10)));
                sink.Write(frame);
            }

            sink.Complete();
            Assert.Equal(segmentSeconds > 0 ? 5 : 1, sink.Files.Count);

            // Until published, the open (last) file has its partial name; closed segments took their final names at once.
            Assert.EndsWith(".partial.mkv", sink.Files[^1], StringComparison.Ordinal);
            Assert.All(sink.Files.SkipLast(1), f => Assert.DoesNotContain(".partial", f, StringComparison.Ordinal));
            sink.Publish();
            Assert.All(sink.Files, f => Assert.True(File.Exists(f) && !f.Contains(".partial", StringComparison.Ordinal), f));
        }

        Assert.Empty(Directory.GetFiles(dir, "*.partial.*"));
        string[] files = segmentSeconds > 0 ? Directory.GetFiles(dir, "out_*.mkv").Order().ToArray() : [path];
        int total = 0;
        foreach (string file in files)
        {
            ProbeResult probe = FfProbe.Probe(file);
            // Odd sizes are padded by one replicated pixel: MPEG-4's 4:2:0 needs even sizes.
            Assert.Equal((162, 122), (probe.Width, probe.Height));
            Assert.Equal(10, probe.Fps, precision: 1);
            total += probe.Frames;
        }

        Assert.Equal(frames, total);
    }

    [Fact]
    public void GrayAndSixteenBitImagesBecomeBgr8()
    {
        using var gray16 = new Mat(8, 8, MatType.CV_16UC1, Scalar.All(65535));
        using Mat bgr = FrameFormat.ToBgr8(gray16.Clone(), "s", NullLogger.Instance);
        Assert.Equal(MatType.CV_8UC3, bgr.Type());
        Assert.Equal(255, bgr.At<Vec3b>(3, 3).Item1);
    }
}
