using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Prometheus;

namespace StreamDeblur.App;

/// <summary>
/// The one HTTP port: /metrics (Prometheus), /healthz (liveness), /readyz (readiness with per-stream detail)
/// and /preview/{stream}.mjpg (MJPEG for dashboards and browsers).
/// </summary>
public sealed class HttpEndpoint : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly PreviewHub _previews;

    private HttpEndpoint(WebApplication app, PreviewHub previews)
    {
        _app = app;
        _previews = previews;
    }

    public Uri Address { get; private set; } = new("http://127.0.0.1/");

    public static async Task<HttpEndpoint> StartAsync(HttpOptions options, PipelineState state, ILoggerFactory loggers)
    {
        PipelineMetrics.EnsureRegistered();
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://{options.Host}:{options.Port}");
        builder.Services.AddSingleton(loggers);
        WebApplication app = builder.Build();
        var previews = new PreviewHub();

        app.MapGet("/healthz", () => Results.Text("ok\n"));
        app.MapGet("/readyz", () =>
        {
            var body = new
            {
                ready = state.IsReady,
                model_ready = state.ModelReady,
                provider = state.Provider,
                shard = state.Shard is { } shard ? new { index = shard.Index, count = shard.Count, streams = shard.Held, configured = shard.Configured, detail = shard.Detail } : null,
                streams = state.Streams.ToDictionary(
                    s => s.Key,
                    s => new { state = s.Value.Health.ToString().ToLowerInvariant(), since = s.Value.Since, detail = s.Value.Detail }),
            };
            return Results.Json(body, statusCode: state.IsReady ? 200 : 503);
        });
        app.MapGet("/preview/{stream}.mjpg", (string stream, HttpContext context) => previews.ServeAsync(stream, context));
        app.MapMetrics("/metrics");

        await app.StartAsync().ConfigureAwait(false);
        var endpoint = new HttpEndpoint(app, previews);
        endpoint.Address = new Uri(app.Urls.First());
        loggers.CreateLogger("http").LogInformation("HTTP endpoint on {Address} (/metrics, /healthz, /readyz, /preview/<stream>.mjpg)", endpoint.Address);
        return endpoint;
    }

    /// <summary>A preview sink per stream, to add to each stream's outputs.</summary>
    public IReadOnlyDictionary<string, IFrameSink> PreviewSinks(IEnumerable<StreamOptions> streams) =>
        streams.ToDictionary(s => s.Id, s => (IFrameSink)_previews.SinkFor(s.Id));

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}
