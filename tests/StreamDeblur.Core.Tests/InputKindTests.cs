using Xunit;

namespace StreamDeblur.Tests;

public sealed class InputKindTests
{
    [Theory]
    [InlineData("clip.mp4", InputKindValue.File)]
    [InlineData("/data/clip.mkv", InputKindValue.File)]
    [InlineData("rtsp://127.0.0.1:8554/cam", InputKindValue.Network)]
    [InlineData("RTSP://host/cam", InputKindValue.Network)]
    [InlineData("https://host/live.m3u8", InputKindValue.Network)]
    [InlineData("0", InputKindValue.Camera)]
    [InlineData("/dev/video2", InputKindValue.Camera)]
    [InlineData("gopher://host/x", InputKindValue.Unsupported)]
    public void Classifies(string input, InputKindValue expected) => Assert.Equal(expected, InputKind.Classify(input));

    [Theory]
    [InlineData("rtsp://admin:s3cret@10.1.1.1:554/live", "rtsp://***@10.1.1.1:554/live")]
    [InlineData("failed to open http://token@host/x and rtmp://u:p@h/y", "failed to open http://***@host/x and rtmp://***@h/y")]
    [InlineData("rtsp://10.1.1.1/live", "rtsp://10.1.1.1/live")]
    [InlineData("/path/with@sign.mp4", "/path/with@sign.mp4")]
    public void RedactsCredentials(string text, string expected) => Assert.Equal(expected, UrlRedactor.Redact(text));
}
