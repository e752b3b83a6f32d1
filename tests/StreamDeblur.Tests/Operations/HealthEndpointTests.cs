using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using StreamDeblur.App;
using Xunit;

namespace StreamDeblur.Tests.Operations;

/// <summary>/healthz and /readyz over real HTTP, driven through the states a live source reports.</summary>
public sealed class HealthEndpointTests
{
    [Fact]
    public async Task ReadyzFollowsTheModelAndEveryStreamsState()
    {
        var state = new PipelineState();
        await using HttpEndpoint http = await HttpEndpoint.StartAsync(new HttpOptions { Port = TestPaths.FreePort() }, state, NullLoggerFactory.Instance);
        using var client = new HttpClient { BaseAddress = http.Address, Timeout = TimeSpan.FromSeconds(5) };
        ISourceStateObserver observer = state;
        string a = "health-a-" + Guid.NewGuid().ToString("N")[..6], b = "health-b-" + Guid.NewGuid().ToString("N")[..6];

        // Liveness does not depend on anything else.
        using (HttpResponseMessage live = await client.GetAsync("/healthz"))
        {
            Assert.Equal(HttpStatusCode.OK, live.StatusCode);
            Assert.Equal("ok", (await live.Content.ReadAsStringAsync()).Trim());
        }

        (HttpStatusCode status, JsonElement body) = await ReadyAsync(client);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.False(body.GetProperty("model_ready").GetBoolean());

        state.ModelReady = true;
        state.Provider = "cpu";
        observer.OnStateChanged(a, SourceState.Connecting, "rtsp://***@127.0.0.1:8554/a");
        observer.OnStateChanged(a, SourceState.Up, "640x480 at 25.00 fps");
        observer.OnStateChanged(b, SourceState.Reconnecting, "connection refused; retrying in 0.5 s");
        (status, body) = await ReadyAsync(client);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("up", StreamState(body, a));
        Assert.Equal("reconnecting", StreamState(body, b));
        Assert.Equal("connection refused; retrying in 0.5 s", body.GetProperty("streams").GetProperty(b).GetProperty("detail").GetString());

        // Repeated reconnect attempts update the detail, not the transition count.
        observer.OnStateChanged(b, SourceState.Reconnecting, "connection refused; retrying in 1.0 s");
        Assert.Equal(1, PipelineMetrics.StreamTransitions.WithLabels(b, "reconnecting").Value);

        observer.OnStateChanged(a, SourceState.Stalled, "no frame for 5 s");
        (status, body) = await ReadyAsync(client);
        Assert.Equal(HttpStatusCode.OK, status); // stalled is recoverable: still ready
        Assert.Equal("stalled", StreamState(body, a));
        Assert.Equal(0, PipelineMetrics.StreamUp.WithLabels(a).Value);

        observer.OnStateChanged(b, SourceState.Failed, "gave up");
        (status, body) = await ReadyAsync(client);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Equal("failed", StreamState(body, b));
        Assert.False(body.GetProperty("ready").GetBoolean());
    }

    private static async Task<(HttpStatusCode, JsonElement)> ReadyAsync(HttpClient client)
    {
        using HttpResponseMessage response = await client.GetAsync("/readyz");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    private static string? StreamState(JsonElement body, string stream) =>
        body.GetProperty("streams").GetProperty(stream).GetProperty("state").GetString();
}
