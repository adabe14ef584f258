using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
namespace Diffusion.Sdk.Tests.Determinism;

/// <summary>NUnit categories that select tests by what they depend on.</summary>
public static class Categories
{
    /// <summary>
    /// Tests of the SDK's own arithmetic (seeded noise, sampler steps, wrappers, guidance, prediction math) that demand
    /// the same results whatever .NET's vector width; <c>.ci/run</c> runs them again with <c>DOTNET_EnableAVX512=0</c>
    /// and with <c>DOTNET_EnableAVX2=0</c>.
    /// </summary>
    public const string Arithmetic = "Arithmetic";
}
