using System.Runtime.InteropServices;

namespace StreamDeblur.App;

/// <summary>glibc malloc tuning for a process whose frames are allocated on one thread and freed on another.</summary>
internal static partial class NativeMemory
{
    private const int MArenaMax = -8; // M_ARENA_MAX in glibc's malloc.h

    /// <summary>
    /// Caps glibc's malloc arenas at 2, unless MALLOC_ARENA_MAX is set. Frame buffers are allocated by the
    /// source thread and freed by the encoder thread; with one arena per thread, freed memory piles up in
    /// arenas that never serve the next allocation, and resident memory creeps (seen in the 10-minute soak).
    /// </summary>
    public static void LimitMallocArenas()
    {
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable("MALLOC_ARENA_MAX") is not null)
        {
            return;
        }

        try
        {
            _ = mallopt(MArenaMax, 2);
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            // Not glibc (musl, for example): nothing to tune.
        }
    }

    [LibraryImport("libc", EntryPoint = "mallopt")]
    private static partial int mallopt(int param, int value);
}
