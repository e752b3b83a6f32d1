using OpenCvSharp;
using Xunit;

namespace StreamDeblur.Tests;

public sealed class ReorderBufferTests
{
    private static Frame MakeFrame(long sequence) => new("s", sequence, TimeSpan.FromMilliseconds(sequence * 40), new Mat(2, 2, MatType.CV_8UC3));

    [Fact]
    public void EmitsInSequenceWhateverTheArrivalOrder()
    {
        var rng = new Random(3);
        long[] arrival = Enumerable.Range(0, 200).Select(i => (long)i).OrderBy(_ => rng.Next()).ToArray();
        using var buffer = new ReorderBuffer(new DropLedger());
        var emitted = new List<long>();
        foreach (long sequence in arrival)
        {
            buffer.Add(MakeFrame(sequence));
            while (buffer.TryTakeNext(out Frame frame))
            {
                emitted.Add(frame.Sequence);
                frame.Dispose();
            }
        }

        Assert.Equal(arrival.Order(), emitted);
        Assert.Equal(0, buffer.PendingCount);
    }

    [Fact]
    public void SkipsDroppedSequenceNumbers()
    {
        var drops = new DropLedger();
        using var buffer = new ReorderBuffer(drops);
        drops.Record(1);
        drops.Record(2);
        buffer.Add(MakeFrame(3));
        buffer.Add(MakeFrame(0));
        var emitted = new List<long>();
        while (buffer.TryTakeNext(out Frame frame))
        {
            emitted.Add(frame.Sequence);
            frame.Dispose();
        }

        Assert.Equal([0L, 3L], emitted);
    }

    [Fact]
    public void RejectsDuplicates()
    {
        using var buffer = new ReorderBuffer(new DropLedger());
        buffer.Add(MakeFrame(5));
        using Frame duplicate = MakeFrame(5);
        Assert.Throws<InvalidOperationException>(() => buffer.Add(duplicate));
    }
}
