using System.Threading.Channels;
using OpenCvSharp;
using StreamDeblur.Stages;
using Xunit;

namespace StreamDeblur.Tests;

/// <summary>Router → tail → reorder → encoder, with a recording sink, on frames whose scores are set by the test.</summary>
public sealed class StageTests
{
    private sealed class RecordingSink : IFrameSink
    {
        public List<(long Sequence, FrameRoute Route)> Written { get; } = [];

        public bool Completed { get; private set; }

        public void Write(Frame frame) => Written.Add((frame.Sequence, frame.Route));

        public void Complete() => Completed = true;

        public void Dispose()
        {
        }
    }

    [Fact]
    public async Task SharpFramesPassAndBlurryFramesComeBackInOrder()
    {
        const int count = 60;
        var scored = Channel.CreateUnbounded<Frame>();
        var blurry = Channel.CreateUnbounded<Frame>();
        var ordered = Channel.CreateBounded<Frame>(4);
        var tail = new StreamTail("s", 4);
        var sink = new RecordingSink();
        var router = new RouterStage("s", new BlurOptions(), isLive: false, TimeSpan.FromSeconds(1));

        Task route = router.RunAsync(scored.Reader, tail, blurry.Writer, CancellationToken.None)
            .ContinueWith(_ => blurry.Writer.TryComplete(), TaskScheduler.Default);
        Task reorder = new ReorderStage("s").RunAsync(tail, ordered.Writer, CancellationToken.None);
        Task encode = new EncoderStage("s", [sink], report: null).RunAsync(ordered.Reader, CancellationToken.None);

        // A slow "deblur" path that returns frames late and in reverse pairs.
        Task deblur = OutOfOrderDeblur.RunAsync(blurry.Reader, tail);

        var expectedBlurry = new HashSet<long>();
        for (int i = 0; i < count; i++)
        {
            bool isBlurry = i is >= 20 and < 31;
            if (isBlurry)
            {
                expectedBlurry.Add(i);
            }

            var frame = new Frame("s", i, TimeSpan.FromMilliseconds(i * 40), new Mat(4, 4, MatType.CV_8UC3))
            {
                Blur = new BlurMeasurement(isBlurry ? 20 : 200, 0, 0, 0, 0, false),
            };
            await scored.Writer.WriteAsync(frame);
        }

        scored.Writer.Complete();
        await Task.WhenAll(route, reorder, encode, deblur).WaitAsync(TimeSpan.FromSeconds(20));

        Assert.True(sink.Completed);
        Assert.Equal(Enumerable.Range(0, count).Select(i => (long)i), sink.Written.Select(w => w.Sequence));
        Assert.Equal(expectedBlurry, sink.Written.Where(w => w.Route == FrameRoute.Deblurred).Select(w => w.Sequence).ToHashSet());
        Assert.All(sink.Written.Where(w => !expectedBlurry.Contains(w.Sequence)), w => Assert.Equal(FrameRoute.Sharp, w.Route));
    }

    [Fact]
    public async Task LiveRouterSkipsDeblurWhenTheBatcherIsFull()
    {
        var scored = Channel.CreateUnbounded<Frame>();
        var blurry = Channel.CreateBounded<Frame>(1); // nobody reads it: full after one frame
        var tail = new StreamTail("live", 16);
        var router = new RouterStage("live", new BlurOptions(), isLive: true, TimeSpan.FromSeconds(10));
        Task route = router.RunAsync(scored.Reader, tail, blurry.Writer, CancellationToken.None);

        for (int i = 0; i < 10; i++)
        {
            var frame = new Frame("live", i, TimeSpan.Zero, new Mat(4, 4, MatType.CV_8UC3))
            {
                Blur = new BlurMeasurement(i < 5 ? 200 : 10, 0, 0, 0, 0, false),
            };
            await scored.Writer.WriteAsync(frame);
        }

        scored.Writer.Complete();
        await route.WaitAsync(TimeSpan.FromSeconds(10));

        var routes = new List<FrameRoute>();
        while (tail.Ready.TryRead(out Frame? frame))
        {
            routes.Add(frame.Route);
            frame.Dispose();
        }

        // 5 sharp; of 5 blurry frames one fits the batcher queue, four pass through as overload skips.
        Assert.Equal(5, routes.Count(r => r == FrameRoute.Sharp));
        Assert.Equal(4, routes.Count(r => r == FrameRoute.SkippedOverload));
        Assert.Equal(1, blurry.Reader.Count);
        Assert.False(tail.Ready.Completion.IsCompleted); // the one frame out for deblurring still holds the tail open
        blurry.Reader.TryRead(out Frame? pending);
        await tail.ReturnFromDeblurAsync(pending!, CancellationToken.None);
        Assert.True(tail.Ready.TryRead(out Frame? last));
        last.Dispose();
        await tail.Ready.Completion.WaitAsync(TimeSpan.FromSeconds(5));
    }
}
