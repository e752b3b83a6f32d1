namespace StreamDeblur;

/// <summary>What the fixed-camera reference keeper had for a blurry frame.</summary>
public enum ReferenceOutcome
{
    /// <summary>A sharp frame (it may have become the reference), or a live frame too late for the network: no reference is looked for.</summary>
    NotNeeded,
    /// <summary>An aligned copy of the reference went with the frame to the two-frame network.</summary>
    Used,
    /// <summary>The stream's last reference was over the age limit, so it was dropped: single-frame deblurring.</summary>
    Stale,
    /// <summary>A reference was there, but the alignment failed or was poor: single-frame deblurring (the counted fallback).</summary>
    Unaligned,
    /// <summary>No reference: the stream's start, a scene change, or a scene too dark to judge sharpness.</summary>
    Absent,
}

/// <summary>
/// What fixed-camera mode did for one frame, for its report line.
/// </summary>
/// <param name="Outcome">The keeper's verdict for the frame.</param>
/// <param name="ReferenceAgeMs">Stream time from the reference to this frame, in ms (NaN when there was none).</param>
/// <param name="ReferenceAgeFrames">Frames from the reference to this frame (-1 when there was none).</param>
/// <param name="AlignmentQuality">The alignment's ECC correlation, -1..1 (NaN when no alignment ran or it failed).</param>
/// <param name="AlignSeconds">Time the alignment and the warp took (and verified fusion, when it ran).</param>
/// <param name="VerifiedFraction">The share of the frame that verified fusion proved to be the reference seen through one blur (NaN when it did not run).</param>
public readonly record struct FixedCameraInfo(
    ReferenceOutcome Outcome,
    double ReferenceAgeMs,
    long ReferenceAgeFrames,
    double AlignmentQuality,
    double AlignSeconds,
    double VerifiedFraction = double.NaN)
{
    /// <summary>A frame for which no reference was sought: a sharp one, or a live one too late for the network.</summary>
    public static FixedCameraInfo NotNeeded { get; } = new(ReferenceOutcome.NotNeeded, double.NaN, -1, double.NaN, 0);

    /// <summary>The name used in reports and metric labels.</summary>
    public static string Name(ReferenceOutcome outcome) => outcome switch
    {
        ReferenceOutcome.Used => "used",
        ReferenceOutcome.Stale => "stale",
        ReferenceOutcome.Unaligned => "unaligned",
        ReferenceOutcome.Absent => "absent",
        _ => "not_needed",
    };
}
