using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;
using StreamDeblur.Video;
using Xunit;

namespace StreamDeblur.Tests;

/// <summary>In-process libav I/O on the real H.264 sample, checked against Debian's ffmpeg doing the same work.</summary>
public sealed class LibavIoTests
{
    private sealed class NoObserver : ISourceStateObserver
    {
        public void OnStateChanged(string streamId, SourceState state, string? detail)
        {
        }
    }

    [Fact]
    public async Task Decodes_the_same_I420_pixels_as_an_ffmpeg_child_process()
    {
        await using var libav = new LibavFrameSource("libav", TestPaths.SampleClip, NullLogger.Instance);
        await using var ffmpeg = new FfmpegFrameSource("ffmpeg", TestPaths.SampleClip, isLive: false, new ReconnectOptions(), NullLogger.Instance, new NoObserver());
        List<byte[]> fromLibav = await ReadAllAsync(libav);
        List<byte[]> fromFfmpeg = await ReadAllAsync(ffmpeg);

        Assert.Equal(FfProbe.Probe(TestPaths.SampleClip).Frames, fromLibav.Count);
        Assert.Equal(fromFfmpeg.Count, fromLibav.Count);
        for (int i = 0; i < fromLibav.Count; i++)
        {
            Assert.True(fromFfmpeg[i].AsSpan().SequenceEqual(fromLibav[i]), $"frame {i} differs from ffmpeg's decode");
        }
    }

    /// <summary>The libav sink against Debian's ffmpeg given the same codec settings (<see cref="EncoderSettings.FfmpegArguments"/>).</summary>
    [Theory]
    [InlineData("h264")]
    [InlineData("mpeg4")]
    public async Task Encodes_like_ffmpeg_with_the_same_settings_and_keeps_every_frame_in_order_with_BGR_frames_mixed_in(string codec)
    {
        EncoderSettings settings = EncoderSettings.For(new StreamOptions(), codec);
        string dir = TestPaths.TempDir("libav-io");
        string output = Path.Combine(dir, "libav.mkv");
        string reference = Path.Combine(dir, "ffmpeg.mkv");
        ProbeResult probe = FfProbe.Probe(TestPaths.SampleClip);

        await using (var source = new LibavFrameSource("io", TestPaths.SampleClip, NullLogger.Instance))
        {
            await source.OpenAsync(CancellationToken.None);
            var channel = Channel.CreateBounded<Frame>(4);
            Task run = source.RunAsync(channel.Writer, CancellationToken.None);
            using var sink = new LibavFileSink("io", output, source.Info.FramesPerSecond, settings, audioFrom: null, NullLogger.Instance);
            await foreach (Frame frame in channel.Reader.ReadAllAsync())
            {
                using (frame)
                {
                    Assert.Equal(PixelLayout.I420, frame.Layout);
                    if (frame.Sequence % 3 == 0)
                    {
                        frame.ToBgr(); // what the network does to a blurry frame
                    }

                    sink.Write(frame);
                }
            }

            await run;
            sink.Complete();
            Assert.Equal(probe.Frames, sink.FramesWritten);
            Assert.False(File.Exists(output), "the file took its final name before it was published");
            sink.Publish();
        }

        RunFfmpeg(["-v", "error", "-i", TestPaths.SampleClip, "-an", .. settings.FfmpegArguments, "-y", reference]);
        ProbeResult written = FfProbe.Probe(output);
        Assert.Equal((probe.Frames, probe.Width, probe.Height, codec), (written.Frames, written.Width, written.Height, written.Codec));
        Assert.Equal(probe.Fps, written.Fps, 2);

        // Frame by frame against the input (an order or plane-layout error fails here), and on average as close
        // to it as ffmpeg's own encode with the same settings (a wrong quantiser or CRF moves both the quality and the size).
        (double worst, double mean) = CompareWithInput(output, probe.Frames);
        (_, double referenceMean) = CompareWithInput(reference, probe.Frames);
        Assert.True(worst > 28, $"worst frame PSNR against the input {worst:F1} dB");
        Assert.InRange(mean, referenceMean - 0.5, referenceMean + 0.5);
        double sizeRatio = (double)new FileInfo(output).Length / new FileInfo(reference).Length;
        Assert.InRange(sizeRatio, 0.9, 1.1);
        Directory.Delete(dir, recursive: true);
    }

    [Theory]
    [InlineData("mkv", "h264")]
    [InlineData("mp4", "h264")]
    [InlineData("avi", "mpeg4")]
    [InlineData("mp4", "hevc")]
    [InlineData("mkv", "mpeg4")]
    public void Every_frame_is_in_the_file_whatever_the_container_and_codec(string extension, string codec)
    {
        string dir = TestPaths.TempDir("libav-container");
        string output = Path.Combine(dir, "out." + extension);
        const int frames = 25;
        using (var sink = new LibavFileSink("box", output, 10, EncoderSettings.For(new StreamOptions(), codec), audioFrom: null, NullLogger.Instance))
        {
            for (int i = 0; i < frames; i++)
            {
                using var image = new Mat(240, 320, MatType.CV_8UC3, new Scalar(i * 10, 128, 255 - (i * 10)));
                using var frame = new Frame("box", i, TimeSpan.FromSeconds(i / 10.0), image.Clone());
                sink.Write(frame);
            }

            sink.Complete();
            sink.Publish();
        }

        // MP4 drops a last frame that has no duration from its edit list; AVI and Matroska keep it.
        ProbeResult written = FfProbe.Probe(output);
        Assert.Equal((frames, 320, 240, codec), (written.Frames, written.Width, written.Height, written.Codec));
        Directory.Delete(dir, recursive: true);
    }

    [Fact]
    public async Task A_file_that_is_not_a_video_is_refused_with_its_name()
    {
        string dir = TestPaths.TempDir("libav-bad");
        string notVideo = Path.Combine(dir, "notes.mp4");
        File.WriteAllText(notVideo, "not a video at all\n");
        await using var source = new LibavFrameSource("bad", notVideo, NullLogger.Instance);
        SourceException error = await Assert.ThrowsAsync<SourceException>(() => source.OpenAsync(CancellationToken.None));
        Assert.Contains("not a readable video", error.Message);
        Assert.Contains(notVideo, error.Message);
        Directory.Delete(dir, recursive: true);
    }

    private static async Task<List<byte[]>> ReadAllAsync(IFrameSource source)
    {
        await source.OpenAsync(CancellationToken.None);
        var channel = Channel.CreateBounded<Frame>(4);
        Task run = source.RunAsync(channel.Writer, CancellationToken.None);
        var frames = new List<byte[]>();
        await foreach (Frame frame in channel.Reader.ReadAllAsync())
        {
            using (frame)
            {
                Assert.Equal(PixelLayout.I420, frame.Layout);
                frame.Image.GetArray(out byte[] pixels);
                frames.Add(pixels);
            }
        }

        await run;
        return frames;
    }

    private static (double Worst, double Mean) CompareWithInput(string encoded, int frames)
    {
        using var original = new VideoCapture(TestPaths.SampleClip);
        using var decoded = new VideoCapture(encoded);
        using var a = new Mat();
        using var b = new Mat();
        var psnr = new List<double>();
        for (int i = 0; i < frames; i++)
        {
            Assert.True(original.Read(a) && decoded.Read(b), $"frame {i} missing from {encoded}");
            psnr.Add(Cv2.PSNR(a, b));
        }

        return (psnr.Min(), psnr.Average());
    }

    private static void RunFfmpeg(IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo("ffmpeg") { RedirectStandardError = true };
        foreach (string arg in args)
        {
            psi.ArgumentList.Add(arg);
        }

        using Process process = Process.Start(psi)!;
        string errors = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, errors);
    }
}
