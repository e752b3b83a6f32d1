using System.Threading.Channels;
using StreamDeblur.Stages;

namespace StreamDeblur.Tests;

/// <summary>A stand-in for the shared deblur path that hands frames back to their stream late and in reverse pairs.</summary>
public static class OutOfOrderDeblur
{
    public static Task RunAsync(ChannelReader<Frame> blurry, StreamTail tail) => Task.Run(async () =>
    {
        var held = new List<Frame>();
        await foreach (Frame frame in blurry.ReadAllAsync())
        {
            frame.Route = FrameRoute.Deblurred;
            frame.ReleaseReference();
            held.Add(frame);
            if (held.Count == 2)
            {
                held.Reverse();
                foreach (Frame f in held)
                {
                    await tail.ReturnFromDeblurAsync(f, CancellationToken.None);
                }

                held.Clear();
            }
        }

        foreach (Frame f in held)
        {
            await tail.ReturnFromDeblurAsync(f, CancellationToken.None);
        }
    });
}
