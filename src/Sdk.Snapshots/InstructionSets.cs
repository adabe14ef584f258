using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace Diffusion.Sdk.Snapshots;

/// <summary>
/// The instruction-set extensions the processor itself reports: the ones ONNX Runtime's CPU kernels (MLAS) choose
/// their code paths by. On x86 they are read with CPUID, not from <c>Avx512F.IsSupported</c> and its siblings: those
/// follow .NET's own switches (<c>DOTNET_EnableAVX512=0</c> turns them off), which change nothing in ONNX Runtime.
/// </summary>
public static class InstructionSets
{
    // (CPUID leaf, sub-leaf, register, bit, name): the extensions that select a kernel in MLAS or in .NET.
    private static readonly (int Leaf, int SubLeaf, char Register, int Bit, string Name)[] X86Features =
    [
        (1, 0, 'd', 25, "sse"), (1, 0, 'd', 26, "sse2"), (1, 0, 'c', 0, "sse3"), (1, 0, 'c', 9, "ssse3"),
        (1, 0, 'c', 19, "sse4.1"), (1, 0, 'c', 20, "sse4.2"), (1, 0, 'c', 23, "popcnt"), (1, 0, 'c', 28, "avx"),
        (1, 0, 'c', 29, "f16c"), (1, 0, 'c', 12, "fma"), (7, 0, 'b', 3, "bmi1"), (7, 0, 'b', 5, "avx2"),
        (7, 0, 'b', 8, "bmi2"), (7, 0, 'b', 16, "avx512f"), (7, 0, 'b', 17, "avx512dq"), (7, 0, 'b', 21, "avx512ifma"),
        (7, 0, 'b', 28, "avx512cd"), (7, 0, 'b', 30, "avx512bw"), (7, 0, 'b', 31, "avx512vl"),
        (7, 0, 'c', 1, "avx512vbmi"), (7, 0, 'c', 6, "avx512vbmi2"), (7, 0, 'c', 11, "avx512vnni"),
        (7, 0, 'c', 12, "avx512bitalg"), (7, 0, 'c', 14, "avx512vpopcntdq"), (7, 0, 'd', 23, "avx512fp16"),
        (7, 0, 'd', 22, "amx-bf16"), (7, 0, 'd', 24, "amx-tile"), (7, 0, 'd', 25, "amx-int8"),
        (7, 1, 'a', 4, "avxvnni"), (7, 1, 'a', 5, "avx512bf16"), (7, 1, 'a', 23, "avxifma"),
        (7, 1, 'd', 4, "avxvnniint8"), (7, 1, 'd', 5, "avxneconvert"), (7, 1, 'd', 19, "avx10"),
    ];

    /// <summary>
    /// One line naming the architecture, the CPU vendor (x86) and every extension present, in a fixed order, for
    /// example <c>X64 AuthenticAMD sse sse2 … avx2 … avx512f …</c>.
    /// </summary>
    public static string Describe() => RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 or Architecture.X86 when X86Base.IsSupported => DescribeX86(),
        Architecture.Arm64 => DescribeArm64(),
        var other => other.ToString(),
    };

    private static string DescribeX86()
    {
        var (_, ebx, ecx, edx) = X86Base.CpuId(0, 0);
        Span<byte> vendor = stackalloc byte[12];
        BitConverter.TryWriteBytes(vendor, ebx);
        BitConverter.TryWriteBytes(vendor[4..], edx);
        BitConverter.TryWriteBytes(vendor[8..], ecx);
        var maxLeaf = X86Base.CpuId(0, 0).Eax;
        var names = new List<string> { RuntimeInformation.ProcessArchitecture.ToString(), System.Text.Encoding.ASCII.GetString(vendor) };
        foreach (var (leaf, subLeaf, register, bit, name) in X86Features)
        {
            if (leaf > maxLeaf) continue;
            var (a, b, c, d) = X86Base.CpuId(leaf, subLeaf);
            var value = register switch { 'a' => a, 'b' => b, 'c' => c, _ => d };
            if ((value >> bit & 1) != 0) names.Add(name);
        }
        return string.Join(' ', names);
    }

    private static string DescribeArm64()
    {
        var names = new List<string> { "Arm64" };
        if (AdvSimd.IsSupported) names.Add("asimd");
        if (AdvSimd.Arm64.IsSupported) names.Add("asimd64");
        if (Dp.IsSupported) names.Add("dotprod");
        if (Rdm.IsSupported) names.Add("rdm");
        return string.Join(' ', names);
    }
}
