using Microsoft.Extensions.Time.Testing;
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
        // A fake clock: the deadline is checked against the batcher's own time, not the machine's load.
        var clock = new FakeTimeProvider();
        var input = Channel.CreateUnbounded<Frame>();
        var output = Channel.CreateUnbounded<FrameBatch>();
        var batcher = new FrameBatcher(new BatchingOptions { MaxBatchSize = 8, MaxQueueDelayMs = 150 }, clock);
        Task run = batcher.RunAsync(input.Reader, output.Writer, CancellationToken.None);

        await input.Writer.WriteAsync(MakeFrame("a", 0));
        await WaitUntilAsync(() => input.Reader.Count == 0);
        clock.Advance(TimeSpan.FromMilliseconds(100));
        await input.Writer.WriteAsync(MakeFrame("a", 1)); // must not restart the timer
        await WaitUntilAsync(() => input.Reader.Count == 0);
        clock.Advance(TimeSpan.FromMilliseconds(49));
        await Task.Delay(100);
        Assert.False(output.Reader.TryRead(out _), "pushed before the delay expired");

        clock.Advance(TimeSpan.FromMilliseconds(1)); // 150 ms after the first frame, 50 ms after the second
        FrameBatch batch = await output.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(2, batch.Frames.Count);
        input.Writer.Complete();
        await run;
        batch.Frames.ForEach(f => f.Dispose());
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        for (int i = 0; i < 500 && !condition(); i++)
        {
            await Task.Delay(10);
        }

        Assert.True(condition());
        await Task.Delay(20); // let the batcher go back to waiting
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
