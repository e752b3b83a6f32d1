using System.Diagnostics;
using System.Threading.Channels;
using OpenCvSharp;
using StreamDeblur.Inference;
using Xunit;

namespace StreamDeblur.Tests;

public sealed class FrameBatcherTests
{
    private static Frame MakeFrame(string stream, long sequence, int width = 32, int height = 24) =>
        new(stream, sequence, TimeSpan.Zero, new Mat(height, width, MatType.CV_8UC3));

    [Fact]
    public async Task PushesFullBatchesAtOnce()
    {
        var input = Channel.CreateUnbounded<Frame>();
        var output = Channel.CreateUnbounded<FrameBatch>();
        var batcher = new FrameBatcher(new BatchingOptions { MaxBatchSize = 4, MaxQueueDelayMs = 10_000 });
        Task run = batcher.RunAsync(input.Reader, output.Writer, CancellationToken.None);
        for (int i = 0; i < 8; i++)
        {
            await input.Writer.WriteAsync(MakeFrame(i % 2 == 0 ? "a" : "b", i));
        }

        // Two full batches arrive long before the 10 s deadline, mixing both streams.
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        FrameBatch first = await output.Reader.ReadAsync(timeout.Token);
        FrameBatch second = await output.Reader.ReadAsync(timeout.Token);
        Assert.Equal(4, first.Frames.Count);
        Assert.Equal(4, second.Frames.Count);
        Assert.Equal(["a", "b"], first.Frames.Select(f => f.StreamId).Distinct().Order());
        input.Writer.Complete();
        await run;
        foreach (Frame f in first.Frames.Concat(second.Frames))
        {
            f.Dispose();
        }
    }

    [Fact]
    public async Task PushesAPartialBatchWhenTheDelayFromItsFirstFrameExpires()
    {
        var input = Channel.CreateUnbounded<Frame>();
        var output = Channel.CreateUnbounded<FrameBatch>();
        const double delayMs = 150;
        var batcher = new FrameBatcher(new BatchingOptions { MaxBatchSize = 8, MaxQueueDelayMs = delayMs });
        Task run = batcher.RunAsync(input.Reader, output.Writer, CancellationToken.None);

        long start = Stopwatch.GetTimestamp();
        await input.Writer.WriteAsync(MakeFrame("a", 0));
        await Task.Delay(50);
        await input.Writer.WriteAsync(MakeFrame("a", 1)); // must not restart the timer

        FrameBatch batch = await output.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(5));
        double elapsedMs = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        Assert.Equal(2, batch.Frames.Count);
        Assert.True(elapsedMs >= delayMs - 5, $"pushed after {elapsedMs:F0} ms, before the {delayMs} ms delay");
        Assert.True(elapsedMs < delayMs + 50 + 1000, $"pushed after {elapsedMs:F0} ms: the timer did not start at the first frame");
        input.Writer.Complete();
        await run;
        batch.Frames.ForEach(f => f.Dispose());
    }

    [Fact]
    public async Task GroupsFramesByShape()
    {
        var input = Channel.CreateUnbounded<Frame>();
        var output = Channel.CreateUnbounded<FrameBatch>();
        var batcher = new FrameBatcher(new BatchingOptions { MaxBatchSize = 3, MaxQueueDelayMs = 10_000 });
        Task run = batcher.RunAsync(input.Reader, output.Writer, CancellationToken.None);
        for (int i = 0; i < 6; i++)
        {
            await input.Writer.WriteAsync(i % 2 == 0 ? MakeFrame("a", i, 32, 24) : MakeFrame("b", i, 64, 48));
        }

        input.Writer.Complete();
        await run;
        var batches = new List<FrameBatch>();
        await foreach (FrameBatch b in output.Reader.ReadAllAsync())
        {
            batches.Add(b);
        }

        Assert.Equal(2, batches.Count);
        Assert.All(batches, b => Assert.Single(b.Frames.Select(f => (f.Width, f.Height)).Distinct()));
        Assert.All(batches, b => Assert.All(b.Frames, f => Assert.Equal((b.Width, b.Height), (f.Width, f.Height))));
        foreach (Frame f in batches.SelectMany(b => b.Frames))
        {
            f.Dispose();
        }
    }

    [Fact]
    public async Task FlushesWhatIsLeftAtTheEnd()
    {
        var input = Channel.CreateUnbounded<Frame>();
        var output = Channel.CreateUnbounded<FrameBatch>();
        var batcher = new FrameBatcher(new BatchingOptions { MaxBatchSize = 4, MaxQueueDelayMs = 60_000 });
        Task run = batcher.RunAsync(input.Reader, output.Writer, CancellationToken.None);
        await input.Writer.WriteAsync(MakeFrame("a", 0));
        input.Writer.Complete();
        await run.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.True(output.Reader.TryRead(out FrameBatch? batch));
        Assert.Single(batch.Frames).Dispose();
        Assert.True(output.Reader.Completion.IsCompleted);
    }
}
