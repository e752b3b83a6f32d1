using System.Threading.Channels;

namespace StreamDeblur.App;

/// <summary>Publishes the depth of every bounded channel to the queue-depth gauge once a second.</summary>
public sealed class QueueDepthSampler : IDisposable
{
    private readonly List<(string Queue, string Stream, Func<int> Count)> _queues = [];
    private readonly Timer _timer;

    public QueueDepthSampler()
    {
        _timer = new Timer(_ => Sample(), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
    }

    public void Watch<T>(string queue, string stream, ChannelReader<T> reader)
    {
        lock (_queues)
        {
            _queues.Add((queue, stream, () => reader.CanCount ? reader.Count : 0));
        }
    }

    private void Sample()
    {
        lock (_queues)
        {
            foreach ((string queue, string stream, Func<int> count) in _queues)
            {
                PipelineMetrics.QueueDepth.WithLabels(queue, stream).Set(count());
            }
        }
    }

    public void Dispose()
    {
        _timer.Dispose();
        Sample();
    }
}
