namespace StreamDeblur.App;

/// <summary>The command line could not be understood. The message says what to change.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>A parsed command line: a verb and its --options.</summary>
public sealed class CommandLine
{
    public const string Usage = """
        usage:
          streamdeblur run     --input <file|url> --output <file> [--config <json>] [--report <jsonl>] [--forward <rtsp-url>] [--port <n>]
          streamdeblur run     --input <folder> --output <folder> [--recursive] [--jobs <n>] [--config <json>]
          streamdeblur run     --config <json> [--report <jsonl>]          (streams declared in the config)
                               [--overwrite] [--codec h264|hevc|mpeg4] [--crf <0-51>] [--preset <x264 preset>] [--progress auto|plain|off]
                               [--decoder auto|libav|ffmpeg|opencv] [--encoder auto|libav|ffmpeg|opencv]
                               [--shard-index <i> --shard-count <n>]    (only the streams or folder files of shard i of n)
          streamdeblur compare --before <video> --after <video> --image <png> [--frames <n,n,...>] [--crop <x,y,w,h>]
          streamdeblur eval    --dir <folder of NNN_sharp.png/NNN_blurry.png> [--config <json>] [--model <metadata.json>] [--json <file>] [--save <dir>]
          streamdeblur bench   [--input <file> | --clip <720p file>] [--config <json>] [--frames <n>] [--json <file>] [--parts pass-through,estimator,batches,streams,providers]
          streamdeblur bench   --make-clip <720p file> [--input <file>] [--frames <n>]   (the benchmark's clip, made with OpenCV: for machines without ffmpeg)
          streamdeblur shards  --config <json> | --input <folder> [--recursive] --shard-count <n>   (which shard holds what)
          streamdeblur --help
        """;

    private static readonly Dictionary<string, string[]> s_allowed = new()
    {
        ["run"] = ["input", "output", "config", "report", "forward", "port", "stream-id", "log-level",
            "overwrite", "recursive", "jobs", "codec", "crf", "preset", "progress", "decoder", "encoder", "shard-index", "shard-count"],
        ["shards"] = ["config", "input", "recursive", "shard-count", "log-level"],
        ["compare"] = ["before", "after", "image", "frames", "crop", "log-level"],
        ["eval"] = ["dir", "config", "model", "json", "save", "log-level"],
        ["bench"] = ["input", "config", "frames", "json", "streams", "log-level", "skip-peer", "parts", "clip", "make-clip"],
    };

    /// <summary>Options that take no value: present means true.</summary>
    private static readonly HashSet<string> s_flags = ["overwrite", "recursive"];

    private readonly Dictionary<string, string> _values;

    private CommandLine(string verb, Dictionary<string, string> values)
    {
        Verb = verb;
        _values = values;
    }

    public string Verb { get; }

    public string? this[string name] => _values.TryGetValue(name, out string? value) ? value : null;

    public static CommandLine Parse(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            return new CommandLine("help", []);
        }

        string verb = args[0];
        if (!s_allowed.TryGetValue(verb, out string[]? allowed))
        {
            throw new UsageException($"unknown command '{verb}' (expected run, compare, eval, bench or shards)");
        }

        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 1; i < args.Length; i++)
        {
            string arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal))
            {
                throw new UsageException($"unexpected argument '{arg}'");
            }

            string name = arg[2..];
            string? value = null;
            int equals = name.IndexOf('=');
            if (equals >= 0)
            {
                value = name[(equals + 1)..];
                name = name[..equals];
            }

            if (!allowed.Contains(name))
            {
                throw new UsageException($"unknown option --{name} for '{verb}' (allowed: {string.Join(", ", allowed.Select(a => "--" + a))})");
            }

            if (s_flags.Contains(name))
            {
                if (value is not null)
                {
                    throw new UsageException($"option --{name} takes no value");
                }

                value = "true";
            }
            else if (value is null)
            {
                if (i + 1 >= args.Length || args[i + 1].StartsWith("--", StringComparison.Ordinal))
                {
                    throw new UsageException($"option --{name} needs a value");
                }

                value = args[++i];
            }

            if (!values.TryAdd(name, value))
            {
                throw new UsageException($"option --{name} is given twice");
            }
        }

        return new CommandLine(verb, values);
    }

    /// <summary>Whether a flag such as --overwrite was given.</summary>
    public bool Has(string name) => _values.ContainsKey(name);

    public int GetInt(string name, int fallback, int min, int max)
    {
        string? text = this[name];
        if (text is null)
        {
            return fallback;
        }

        if (!int.TryParse(text, out int value) || value < min || value > max)
        {
            throw new UsageException($"--{name} must be a whole number in {min}..{max}, not '{text}'");
        }

        return value;
    }
}
