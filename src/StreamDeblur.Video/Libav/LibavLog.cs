using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Extensions.Logging;

namespace StreamDeblur.Video.Libav;

/// <summary>
/// Routes libav's own warnings and errors (demuxer, decoder, encoder) into the worker's log, at Debug level.
/// By default libav stays silent: the libav sources and sinks already report what matters, counted and
/// with the first error, and a damaged stream can make libav print a line per macroblock. With
/// <c>--log-level debug</c> the details are there, in the same structured log, instead of raw on stderr.
/// </summary>
public static unsafe class LibavLog
{
    private const int LevelError = 16; // AV_LOG_ERROR
    private const int LevelWarning = 24; // AV_LOG_WARNING
    private const int LineBytes = 1024;

    private static volatile ILogger? s_logger;

    /// <summary>
    /// Sends libav's messages to <paramref name="logger"/> when it logs Debug; otherwise does nothing.
    /// libav has one log callback per process, so the last call wins.
    /// </summary>
    public static void RouteTo(ILogger logger)
    {
        if (!logger.IsEnabled(LogLevel.Debug))
        {
            return;
        }

        try
        {
            LibavNative.EnsureSupported();
        }
        catch (NotSupportedException)
        {
            return; // the libav source or sink that needs the libraries reports this, naming its stream
        }

        s_logger = logger;
        LibavNative.av_log_set_callback(&OnMessage);
        LibavNative.av_log_set_level(LevelWarning);
    }

    // Called by libav on whichever thread logs, decoder threads included. The va_list arrives as a pointer
    // (x86-64 and arm64 System V), which av_log_format_line2 takes as it is. Nothing may throw into native code.
    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnMessage(void* context, int level, byte* format, void* arguments)
    {
        if (level > LevelWarning || s_logger is not { } logger)
        {
            return;
        }

        try
        {
            byte* line = stackalloc byte[LineBytes];
            int printPrefix = 1;
            if (LibavNative.av_log_format_line2(context, level, format, arguments, line, LineBytes, &printPrefix) < 0)
            {
                return;
            }

            string text = Encoding.UTF8.GetString(MemoryMarshal.CreateReadOnlySpanFromNullTerminated(line)).TrimEnd();
            if (text.Length > 0)
            {
                logger.LogDebug("libav {Severity}: {Message}", level <= LevelError ? "error" : "warning", text);
            }
        }
        catch (Exception)
        {
            // A log line is not worth a crash of the native caller.
        }
    }
}
