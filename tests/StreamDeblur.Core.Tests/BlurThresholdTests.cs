using Xunit;

namespace StreamDeblur.Tests;

public sealed class BlurThresholdTests
{
    private static readonly BlurOptions s_options = new();

    [Fact]
    public void FlagsABurstOfBlurAndRecovers()
    {
        var threshold = new BlurThreshold(s_options);
        var rng = new Random(1);
        var verdicts = new List<bool>();
        for (int i = 0; i < 60; i++)
        {
            bool burst = i is >= 20 and < 30;
            double score = (burst ? 40 : 300) * (0.9 + (0.2 * rng.NextDouble()));
            verdicts.Add(threshold.Judge(score));
        }

        Assert.All(verdicts.Take(20), v => Assert.False(v));
        Assert.All(verdicts.Skip(20).Take(10), v => Assert.True(v));
        Assert.All(verdicts.Skip(30), v => Assert.False(v));
    }

    [Fact]
    public void BaselineIsNotDraggedDownByABurst()
    {
        var threshold = new BlurThreshold(s_options);
        for (int i = 0; i < 20; i++)
        {
            threshold.Judge(300);
        }

        double before = threshold.Baseline;
        for (int i = 0; i < 50; i++)
        {
            Assert.True(threshold.Judge(30));
        }

        Assert.Equal(before, threshold.Baseline, precision: 6);
    }

    [Fact]
    public void HysteresisKeepsTheStateBetweenTheTwoRatios()
    {
        var threshold = new BlurThreshold(s_options);
        for (int i = 0; i < 10; i++)
        {
            threshold.Judge(100);
        }

        double between = 100 * ((s_options.EnterRatio + s_options.ExitRatio) / 2);
        Assert.False(threshold.Judge(between)); // not low enough to enter
        Assert.True(threshold.Judge(10));       // enters
        Assert.True(threshold.Judge(between));  // not high enough to leave
        Assert.False(threshold.Judge(100 * s_options.ExitRatio * 1.2)); // leaves
    }

    [Fact]
    public void DarkOrFlatSceneIsNeverFlagged()
    {
        var threshold = new BlurThreshold(s_options);
        var rng = new Random(2);
        for (int i = 0; i < 100; i++)
        {
            // A night scene: all scores under the absolute floor, some far lower than others.
            double score = s_options.AbsoluteFloor * (0.05 + (0.9 * rng.NextDouble()));
            Assert.False(threshold.Judge(score));
        }
    }

    [Fact]
    public void AdaptsWhenTheSceneBecomesLessTextured()
    {
        var threshold = new BlurThreshold(s_options);
        for (int i = 0; i < 30; i++)
        {
            threshold.Judge(400);
        }

        // The camera now looks at a calmer scene, not at blur: a modest, lasting drop.
        int flagged = 0;
        for (int i = 0; i < 300; i++)
        {
            flagged += threshold.Judge(400 * 0.5) ? 1 : 0;
        }

        Assert.Equal(0, flagged);
        Assert.InRange(threshold.Baseline, 190, 260);
    }
}

public sealed class BlurModeTests
{
    [Theory]
    [InlineData("all", true)]
    [InlineData("none", false)]
    public void ForcedModesOverrideTheScore(string mode, bool expected)
    {
        var threshold = new BlurThreshold(new BlurOptions { Mode = mode });
        foreach (double score in new[] { 500.0, 5, 500, 1, 300 })
        {
            Assert.Equal(expected, threshold.Judge(score));
        }
    }
}
