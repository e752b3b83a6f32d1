using OpenCvSharp;

namespace StreamDeblur;

/// <summary>Scores an image for blur on the blur estimator's scale (higher is sharper). One instance per thread.</summary>
public interface ISharpnessMeter
{
    double Sharpness(Mat bgr);
}
