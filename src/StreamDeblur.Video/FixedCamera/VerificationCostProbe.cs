using System.Diagnostics;
using OpenCvSharp;

namespace StreamDeblur.Video.FixedCamera;

/// <summary>
/// Times what verified fusion costs a live stream, off the keeper's thread: a verification of copies of one frame and
/// its reference, run twice on the thread pool with a verifier of its own (the first run of a process is the slowest:
/// code and buffers still cold), keeping the faster. Its result is thrown away; only the time is kept. So a live keeper
/// learns whether verifying fits its frame interval without first stalling its source to find out.
/// One probe at a time; it owns the copies it is given.
/// </summary>
public sealed class VerificationCostProbe : IDisposable
{
    private readonly ReferenceVerifier _verifier;
    private Task<double>? _running;

    public VerificationCostProbe(FixedCameraOptions options)
    {
        _verifier = new ReferenceVerifier(options);
    }

    /// <summary>Whether a probe is running now.</summary>
    public bool IsRunning => _running is { IsCompleted: false };

    /// <summary>
    /// Starts timing a verification of <paramref name="frameBgr"/> against <paramref name="reference"/>, and takes
    /// ownership of both (it disposes them). Returns false, and disposes them, when a probe is already running.
    /// </summary>
    public bool Start(Mat frameBgr, Mat reference)
    {
        if (_running is not null)
        {
            frameBgr.Dispose();
            reference.Dispose();
            return false;
        }

        _running = Task.Run(() =>
        {
            using (frameBgr)
            using (reference)
            {
                double fastest = double.PositiveInfinity;
                for (int run = 0; run < 2; run++)
                {
                    long start = Stopwatch.GetTimestamp();
                    (VerifiedReference? result, _, _) = _verifier.Verify(frameBgr, reference);
                    result?.Dispose();
                    fastest = Math.Min(fastest, Stopwatch.GetElapsedTime(start).TotalSeconds);
                }

                return fastest;
            }
        });
        return true;
    }

    /// <summary>The seconds a finished probe measured (once per probe); false while none has finished since the last take.</summary>
    public bool TryTakeResult(out double seconds)
    {
        seconds = double.NaN;
        if (_running is not { IsCompleted: true } finished)
        {
            return false;
        }

        _running = null;
        if (!finished.IsCompletedSuccessfully)
        {
            return false; // a verification that threw is measured again later by the keeper's own run
        }

        seconds = finished.Result;
        return true;
    }

    public void Dispose()
    {
        try
        {
            _running?.Wait(TimeSpan.FromSeconds(30)); // the verifier must outlive its last run
        }
        catch (AggregateException)
        {
            // the probe's failure changes nothing at shutdown
        }

        _verifier.Dispose();
    }
}
