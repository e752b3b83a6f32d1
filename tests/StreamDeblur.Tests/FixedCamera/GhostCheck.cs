using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;
using StreamDeblur.Inference;
using StreamDeblur.Stages;
using StreamDeblur.Video.FixedCamera;

namespace StreamDeblur.Tests.FixedCamera;

/// <summary>One pair of real frames, measured in the regions where the scene changed between them.</summary>
/// <param name="Reference">The sample frame kept as the reference.</param>
/// <param name="Current">The later sample frame, shaken and blurred: the frame to restore.</param>
/// <param name="AppearedPixels">Pixels where an object is in the current frame but not in the reference.</param>
/// <param name="VanishedPixels">Pixels where an object was in the reference and is gone from the current frame.</param>
/// <param name="ReferenceUsed">The product path aligned the reference and ran the two-frame network with it.</param>
/// <param name="AppearedFixed">PSNR against the sharp current frame in the appeared region, two-frame route.</param>
/// <param name="AppearedSingle">The same, single-frame route.</param>
/// <param name="VanishedFixed">PSNR against the sharp current frame in the vanished region, two-frame route.</param>
/// <param name="VanishedSingle">The same, single-frame route.</param>
/// <param name="VanishedFixedVsReference">PSNR of the two-frame output against the aligned reference in the vanished region.</param>
/// <param name="VanishedSingleVsReference">The same for the single-frame output.</param>
/// <param name="WholeFixed">PSNR of the whole frame against the sharp current frame, two-frame route.</param>
/// <param name="WholeSingle">The same, single-frame route.</param>
/// <param name="VerifiedFraction">The share of the frame that verified fusion proved (NaN when it did not run).</param>
public sealed record GhostPair(
    int Reference, int Current, int AppearedPixels, int VanishedPixels, bool ReferenceUsed,
    double AppearedFixed, double AppearedSingle, double VanishedFixed, double VanishedSingle,
    double VanishedFixedVsReference, double VanishedSingleVsReference, double WholeFixed, double WholeSingle,
    double VerifiedFraction = double.NaN)
{
    /// <summary>How much closer the two-frame output is to the current frame than to the reference where an object left.</summary>
    public double VanishedMargin => VanishedFixed - VanishedFixedVsReference;

    public override string ToString() =>
        $"{Reference}->{Current}: appeared {AppearedPixels} px fixed {AppearedFixed:F2} single {AppearedSingle:F2} dB; " +
        $"vanished {VanishedPixels} px fixed {VanishedFixed:F2} single {VanishedSingle:F2} dB, vs reference fixed {VanishedFixedVsReference:F2} " +
        $"single {VanishedSingleVsReference:F2} dB (margin {VanishedMargin:F2}); whole fixed {WholeFixed:F2} single {WholeSingle:F2} dB; reference used {ReferenceUsed}, verified {VerifiedFraction:P0}";
}

/// <summary>
/// The "no ghosts" measurement of fixed-camera mode (issue 13, point 4), on real frames of the sample clip (vtest.avi,
/// a fixed camera with people walking). For each pair of sharp frames some 1.5 s apart, the later frame is moved by a
/// few pixels and blurred by a camera-shake kernel; the earlier one is the reference. Both routes run as the product
/// runs them: the single-frame network alone, and the reference keeper (alignment included) feeding the two-frame
/// network. Masks come from the luma: changed = |current − reference| over 20 levels (opened, dilated 9 px); an object
/// is where a frame differs from the clip's median background by over 25 levels (opened, dilated 9 px). Appeared =
/// changed and an object now; vanished = changed, an object in the reference and none now.
/// </summary>
public sealed class GhostCheck : IDisposable
{
    public static readonly (int Reference, int Current)[] Pairs = [(5, 20), (70, 85), (95, 110), (136, 149)];

    /// <summary>The shake's displacement of the current frame, in pixels (the alignment must undo it).</summary>
    private const double ShiftX = 3.0, ShiftY = -2.0;

    private readonly Mat _background;

    public GhostCheck() => _background = MedianBackground();

    public IReadOnlyList<GhostPair> Measure(DeblurModel single, DeblurModel twoFrame)
    {
        var options = new ModelOptions();
        using var deblur = new DeblurStage(single, options, NullLogger.Instance, twoFrame);
        var results = new List<GhostPair>();
        foreach ((int referenceIndex, int currentIndex) in Pairs)
        {
            using Mat reference = SampleFrames.Frame(referenceIndex);
            using Mat sharpCurrent = Shift(SampleFrames.Frame(currentIndex));
            using Mat alignedReference = Shift(reference.Clone());
            using Mat background = Shift(_background.Clone());
            using Mat kernel = SampleFrames.ShakeKernel(currentIndex, 15);
            using Mat blurry = SampleFrames.Blur(sharpCurrent, kernel);

            using Mat changed = Mask(sharpCurrent, alignedReference, 20);
            using Mat objectNow = Mask(sharpCurrent, background, 25);
            using Mat objectBefore = Mask(alignedReference, background, 25);
            using var appeared = new Mat();
            using var vanished = new Mat();
            using var noObjectNow = new Mat();
            Cv2.BitwiseAnd(changed, objectNow, appeared);
            Cv2.BitwiseNot(objectNow, noObjectNow);
            Cv2.BitwiseAnd(changed, objectBefore, vanished);
            Cv2.BitwiseAnd(vanished, noObjectNow, vanished);

            // Single-frame route.
            using var singleFrame = new Frame("ghost", currentIndex, TimeSpan.FromMilliseconds(currentIndex * 100), blurry.Clone());
            deblur.Process(singleFrame);

            // The product's fixed-camera route: the keeper keeps the sharp frame, aligns it to the blurry one, and the
            // two-frame network runs with the aligned copy.
            string stream = "ghost-" + Guid.NewGuid().ToString("N")[..6];
            using var keeper = new ReferenceKeeperStage(stream, new FixedCameraOptions(), new BlurOptions(), new RouteDispatcher(stream, false, TimeSpan.FromSeconds(1)));
            using (var sharpFrame = new Frame(stream, referenceIndex, TimeSpan.FromMilliseconds(referenceIndex * 100), reference.Clone())
            {
                Blur = new BlurMeasurement(1000, 0, 0, 0, 1000, IsBlurry: false),
            })
            {
                keeper.Keep(sharpFrame);
            }

            using var fixedFrame = new Frame(stream, currentIndex, TimeSpan.FromMilliseconds(currentIndex * 100), blurry.Clone())
            {
                Blur = new BlurMeasurement(100, 0, 0, 0, 1000, IsBlurry: true),
            };
            keeper.Keep(fixedFrame);
            deblur.Process(fixedFrame);

            results.Add(new GhostPair(
                referenceIndex, currentIndex, Cv2.CountNonZero(appeared), Cv2.CountNonZero(vanished), fixedFrame.ReferenceUsed,
                Psnr(fixedFrame.Image, sharpCurrent, appeared), Psnr(singleFrame.Image, sharpCurrent, appeared),
                Psnr(fixedFrame.Image, sharpCurrent, vanished), Psnr(singleFrame.Image, sharpCurrent, vanished),
                Psnr(fixedFrame.Image, alignedReference, vanished), Psnr(singleFrame.Image, alignedReference, vanished),
                Cv2.PSNR(fixedFrame.Image, sharpCurrent), Cv2.PSNR(singleFrame.Image, sharpCurrent),
                fixedFrame.FixedCamera?.VerifiedFraction ?? double.NaN));
        }

        return results;
    }

    /// <summary>PSNR in the regions against the sharp current frame may fall below the single-frame route's by this much in one pair (never on average).</summary>
    public const double PairTolerance = 0.5;

    /// <summary>
    /// The same, where an object left: there the reference contradicts the frame, the network can only restore from
    /// the frame itself, and its single-frame path (fewer training steps than the shipped deblur-fast's) may restore
    /// a little less than deblur-fast does. Issue 13 asks of this region that nothing of the reference appears, which
    /// <see cref="MinVanishedMargin"/> checks; this bound still fails a network that blends (7–13 dB below).
    /// </summary>
    public const double VanishedPairTolerance = 1.5;

    /// <summary>Where an object left, the output must be this much closer (dB) to the current frame than to the reference.</summary>
    public const double MinVanishedMargin = 6.0;

    /// <summary>Point 4's first half: an object that appeared is restored no worse than by single-frame deblurring. Empty when it holds.</summary>
    public static List<string> AppearedProblems(IReadOnlyList<GhostPair> pairs) =>
        NoWorseThanSingleFrame(pairs, "appeared", p => (p.AppearedFixed, p.AppearedSingle));

    /// <summary>
    /// Point 4's second half: where an object left, nothing of it is painted back: clearly closer to the current frame
    /// than to the reference, no worse than single-frame on average, and at most <see cref="VanishedPairTolerance"/>
    /// worse in any pair. Empty when it holds.
    /// </summary>
    public static List<string> VanishedProblems(IReadOnlyList<GhostPair> pairs)
    {
        List<string> problems = NoWorseThanSingleFrame(pairs, "vanished", p => (p.VanishedFixed, p.VanishedSingle), VanishedPairTolerance);
        problems.AddRange(pairs.Where(p => p.VanishedMargin < MinVanishedMargin)
            .Select(p => $"{p.Reference}->{p.Current}: where an object left, the output is only {p.VanishedMargin:F2} dB closer to the current frame than to the reference (at least {MinVanishedMargin} needed)"));
        return problems;
    }

    /// <summary>The two-frame route against the single-frame one in a region: no loss on average, at most <paramref name="pairTolerance"/> in a pair.</summary>
    private static List<string> NoWorseThanSingleFrame(
        IReadOnlyList<GhostPair> pairs, string region, Func<GhostPair, (double Fixed, double Single)> psnr, double pairTolerance = PairTolerance)
    {
        var problems = pairs.Where(p => !p.ReferenceUsed).Select(p => $"{p.Reference}->{p.Current}: the reference was not used, so nothing was measured").ToList();
        double mean = pairs.Average(p => psnr(p).Fixed - psnr(p).Single);
        if (mean < 0)
        {
            problems.Add($"in the {region} regions, the two-frame route is {-mean:F2} dB worse than single-frame on average");
        }

        problems.AddRange(pairs.Where(p => psnr(p).Fixed < psnr(p).Single - pairTolerance)
            .Select(p => $"{p.Reference}->{p.Current}: {region} region {psnr(p).Fixed:F2} dB against single-frame {psnr(p).Single:F2} dB"));
        return problems;
    }

    /// <summary>PSNR (8-bit, all channels) over the pixels of <paramref name="mask"/>.</summary>
    public static double Psnr(Mat a, Mat b, Mat mask)
    {
        using var diff = new Mat();
        using var diff32 = new Mat();
        Cv2.Absdiff(a, b, diff);
        diff.ConvertTo(diff32, MatType.CV_32F);
        Cv2.Multiply(diff32, diff32, diff32);
        Scalar mean = Cv2.Mean(diff32, mask);
        double mse = (mean.Val0 + mean.Val1 + mean.Val2) / 3;
        return 10 * Math.Log10(255.0 * 255.0 / Math.Max(mse, 1e-10));
    }

    /// <summary>Where two images' luma differ by more than <paramref name="levels"/>: opened 3×3 to drop noise, dilated 9 px.</summary>
    private static Mat Mask(Mat a, Mat b, double levels)
    {
        using var grayA = new Mat();
        using var grayB = new Mat();
        using var diff = new Mat();
        Cv2.CvtColor(a, grayA, ColorConversionCodes.BGR2GRAY);
        Cv2.CvtColor(b, grayB, ColorConversionCodes.BGR2GRAY);
        Cv2.Absdiff(grayA, grayB, diff);
        var mask = new Mat();
        Cv2.Threshold(diff, mask, levels, 255, ThresholdTypes.Binary);
        using Mat open = Cv2.GetStructuringElement(MorphShapes.Rect, new Size(3, 3));
        using Mat grow = Cv2.GetStructuringElement(MorphShapes.Ellipse, new Size(19, 19));
        Cv2.MorphologyEx(mask, mask, MorphTypes.Open, open);
        Cv2.Dilate(mask, mask, grow);
        return mask;
    }

    /// <summary>The sample's median frame over its sharp frames: the scene without the people who walk through it.</summary>
    private static Mat MedianBackground()
    {
        var frames = Enumerable.Range(0, SampleFrames.Count).Where(SampleFrames.IsSharp).Where(i => i % 3 == 0).Select(SampleFrames.Frame).ToList();
        try
        {
            int length = (int)(frames[0].Total() * frames[0].ElemSize());
            var pixels = frames.Select(f =>
            {
                var bytes = new byte[length];
                System.Runtime.InteropServices.Marshal.Copy(f.Data, bytes, 0, length);
                return bytes;
            }).ToList();
            var median = new byte[length];
            var column = new byte[pixels.Count];
            for (int p = 0; p < length; p++)
            {
                for (int f = 0; f < pixels.Count; f++)
                {
                    column[f] = pixels[f][p];
                }

                Array.Sort(column);
                median[p] = column[column.Length / 2];
            }

            var background = new Mat(frames[0].Rows, frames[0].Cols, MatType.CV_8UC3);
            System.Runtime.InteropServices.Marshal.Copy(median, 0, background.Data, length);
            return background;
        }
        finally
        {
            frames.ForEach(f => f.Dispose());
        }
    }

    /// <summary>The image moved by the shake's displacement (borders replicated); takes ownership of <paramref name="image"/>.</summary>
    private static Mat Shift(Mat image)
    {
        using (image)
        {
            using var matrix = new Mat(2, 3, MatType.CV_64FC1);
            matrix.Set(0, 0, 1.0);
            matrix.Set(0, 1, 0.0);
            matrix.Set(0, 2, ShiftX);
            matrix.Set(1, 0, 0.0);
            matrix.Set(1, 1, 1.0);
            matrix.Set(1, 2, ShiftY);
            var moved = new Mat();
            Cv2.WarpAffine(image, moved, matrix, image.Size(), InterpolationFlags.Linear, BorderTypes.Replicate);
            return moved;
        }
    }

    public void Dispose() => _background.Dispose();
}
