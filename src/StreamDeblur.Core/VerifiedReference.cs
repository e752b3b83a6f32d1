using OpenCvSharp;

namespace StreamDeblur;

/// <summary>
/// What the reference keeper proved of a blurry frame against its aligned sharp reference (verified fusion): where
/// the frame is the reference seen through one measured blur kernel, within the frame's own noise, the frame's
/// pixels plus the detail that this blur took away; everywhere else, nothing. The deblur stage blends it into the
/// network's output by <see cref="Weight"/>. Owned by its frame, and disposed with the frame's reference.
/// </summary>
public sealed class VerifiedReference : IDisposable
{
    /// <param name="restored">BGR 8-bit at the frame's size: the frame as recorded plus gain × (reference − kernel ∗ reference).</param>
    /// <param name="weight">Float 0..1 at the frame's size: 1 where the frame and the blurred reference agree, 0 where they do not.</param>
    /// <param name="verifiedFraction">The mean of <paramref name="weight"/>: the share of the frame that was verified.</param>
    public VerifiedReference(Mat restored, Mat weight, double verifiedFraction)
    {
        ArgumentNullException.ThrowIfNull(restored);
        ArgumentNullException.ThrowIfNull(weight);
        if (restored.Type() != MatType.CV_8UC3 || weight.Type() != MatType.CV_32FC1 || restored.Size() != weight.Size())
        {
            throw new ArgumentException($"verified fusion needs a BGR image and a float weight of one size, not {restored.Size()} {restored.Type()} and {weight.Size()} {weight.Type()}");
        }

        Restored = restored;
        Weight = weight;
        VerifiedFraction = verifiedFraction;
    }

    public Mat Restored { get; }

    public Mat Weight { get; }

    public double VerifiedFraction { get; }

    /// <summary>
    /// Writes Weight × Restored + (1 − Weight) × <paramref name="networkOutput"/> into <paramref name="networkOutput"/>
    /// (BGR, the frame's size): the verified part from the frame itself, the rest from the network.
    /// </summary>
    public void BlendInto(Mat networkOutput)
    {
        ArgumentNullException.ThrowIfNull(networkOutput);
        if (networkOutput.Size() != Restored.Size() || networkOutput.Type() != MatType.CV_8UC3)
        {
            throw new ArgumentException($"the network output is {networkOutput.Size()} {networkOutput.Type()}, the verified frame {Restored.Size()} BGR");
        }

        if (VerifiedFraction <= 0)
        {
            return;
        }

        using var rest = new Mat();
        Cv2.Subtract(Scalar.All(1.0), Weight, rest);
        using var blended = new Mat();
        Cv2.BlendLinear(Restored, networkOutput, Weight, rest, blended);
        blended.CopyTo(networkOutput);
    }

    public void Dispose()
    {
        Restored.Dispose();
        Weight.Dispose();
    }
}
