namespace StreamDeblur;

/// <summary>
/// Per-stream blurry/sharp decision: an adaptive baseline (an upper envelope of recent sharpness)
/// with hysteresis, and an absolute floor below which the scene is too dark or flat to judge.
/// </summary>
/// <remarks>
/// The baseline rises quickly towards sharper frames and decays slowly towards duller frames judged
/// sharp, so a burst of blur does not drag it down. A frame enters the blurry state below
/// baseline × enter_ratio and leaves it above baseline × exit_ratio.
/// </remarks>
public sealed class BlurThreshold(BlurOptions options)
{
    private double _baseline = double.NaN;
    private bool _blurry;

    public double Baseline => double.IsNaN(_baseline) ? 0 : _baseline;

    /// <summary>Judges one frame's sharpness and updates the baseline.</summary>
    public bool Judge(double sharpness)
    {
        if (double.IsNaN(_baseline))
        {
            _baseline = sharpness;
        }

        if (options.Mode != "auto")
        {
            _blurry = options.Mode == "all";
        }
        else if (_baseline < options.AbsoluteFloor)
        {
            // Too dark or too flat to tell blur from an empty scene: never flag.
            _blurry = false;
        }
        else
        {
            double limit = _baseline * (_blurry ? options.ExitRatio : options.EnterRatio);
            _blurry = _blurry ? sharpness <= limit : sharpness < limit;
        }

        if (sharpness > _baseline)
        {
            _baseline += options.BaselineRise * (sharpness - _baseline);
        }
        else if (!_blurry)
        {
            _baseline += options.BaselineDecay * (sharpness - _baseline);
        }

        return _blurry;
    }
}
