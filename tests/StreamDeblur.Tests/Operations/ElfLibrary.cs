using System.Buffers.Binary;
using System.Text;

namespace StreamDeblur.Tests.Operations;

/// <summary>
/// The shared libraries an ELF64 little-endian file asks the dynamic loader for (its DT_NEEDED entries, what
/// <c>readelf -d</c> prints as NEEDED). Reads only the headers, the dynamic section and its string table.
/// </summary>
public static class ElfLibrary
{
    private const int SectionTypeDynamic = 6;
    private const long TagNull = 0;
    private const long TagNeeded = 1;

    public static IReadOnlyList<string> Needed(string path)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read);
        byte[] header = Read(file, 0, 64);
        if (!header.AsSpan(0, 4).SequenceEqual("\u007fELF"u8) || header[4] != 2 || header[5] != 1)
        {
            throw new InvalidDataException($"{path} is not a 64-bit little-endian ELF file");
        }

        long sectionsAt = BinaryPrimitives.ReadInt64LittleEndian(header.AsSpan(0x28));
        int sectionSize = BinaryPrimitives.ReadUInt16LittleEndian(header.AsSpan(0x3A));
        int sectionCount = BinaryPrimitives.ReadUInt16LittleEndian(header.AsSpan(0x3C));
        byte[] sections = Read(file, sectionsAt, sectionSize * sectionCount);
        for (int i = 0; i < sectionCount; i++)
        {
            ReadOnlySpan<byte> section = sections.AsSpan(i * sectionSize, sectionSize);
            if (BinaryPrimitives.ReadUInt32LittleEndian(section[4..]) != SectionTypeDynamic)
            {
                continue;
            }

            byte[] dynamic = Read(file, BinaryPrimitives.ReadInt64LittleEndian(section[0x18..]), (int)BinaryPrimitives.ReadInt64LittleEndian(section[0x20..]));
            int stringsIndex = (int)BinaryPrimitives.ReadUInt32LittleEndian(section[0x28..]);
            ReadOnlySpan<byte> stringsSection = sections.AsSpan(stringsIndex * sectionSize, sectionSize);
            byte[] strings = Read(file, BinaryPrimitives.ReadInt64LittleEndian(stringsSection[0x18..]), (int)BinaryPrimitives.ReadInt64LittleEndian(stringsSection[0x20..]));
            var needed = new List<string>();
            for (int entry = 0; entry + 16 <= dynamic.Length; entry += 16)
            {
                long tag = BinaryPrimitives.ReadInt64LittleEndian(dynamic.AsSpan(entry));
                if (tag == TagNull)
                {
                    break;
                }

                if (tag == TagNeeded)
                {
                    int at = (int)BinaryPrimitives.ReadInt64LittleEndian(dynamic.AsSpan(entry + 8));
                    int end = Array.IndexOf(strings, (byte)0, at);
                    needed.Add(Encoding.ASCII.GetString(strings, at, end - at));
                }
            }

            return needed;
        }

        return [];
    }

    private static byte[] Read(FileStream file, long offset, int count)
    {
        byte[] buffer = new byte[count];
        file.Position = offset;
        file.ReadExactly(buffer);
        return buffer;
    }
}
