using Diffusion.Sdk.Lora;
using Diffusion.Sdk.StableDiffusion;
using Diffusion.Sdk.Tests.StableDiffusion;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.Lora;

/// <summary>
/// Every case of TestData/lora: the adapters merged at load time (initializer overrides, no file rewritten), then the
/// reference's pipeline run step for step: latents to 1e-3 + 1e-4·|x|, image to 1e-3, PNG ±1. The merged weights
/// themselves against the reference's float64 merge, and the key → initializer mapping against keymap.json.
/// </summary>
[TestFixture]
public sealed class LoraReferenceTests
{
    [TestCaseSource(typeof(LoraFixture), nameof(LoraFixture.Cases))]
    public async Task TheWholeRunMatchesStepForStep(string name)
    {
        var c = LoraFixture.Case(name);
        using var model = LoraFixture.Load(LoraFixture.Adapters(c));
        var expectedModules = c.Root.GetProperty("lora").GetProperty("n_merged_modules").GetInt32();
        Assert.That(model.Lora.Adapters.SelectMany(a => a.Applied).Select(m => (m.Component, m.Initializer)).Distinct().Count(), Is.EqualTo(expectedModules), "merged modules");
        var pipeline = new StableDiffusionPipeline(model, TestHost.Factory);
        await StableDiffusionReferenceTests.RunAndCompare(pipeline, c);
    }

    [TestCase("R1-kohya-k1-0.8")]
    [TestCase("R3-peft-p1-1.0")]
    public async Task TheOptimumLayoutMatchesToo(string name)
    {
        // The same weights in Optimum's layout (its own UNet graph, a float32 scalar timestep): the mapping reads that graph.
        var c = LoraFixture.Case(name);
        using var model = StableDiffusionModel.Load(OptimumLayout.Folder, new StableDiffusionOptions { Loras = LoraFixture.Adapters(c) });
        Assert.That(model.Lora.Adapters.SelectMany(a => a.NotApplied), Is.Empty);
        await StableDiffusionReferenceTests.RunAndCompare(new StableDiffusionPipeline(model, TestHost.Factory), c);
    }

    [TestCaseSource(typeof(LoraFixture), nameof(LoraFixture.Cases))]
    public void TheMergedWeightsMatchTheReferenceMerge(string name)
    {
        var c = LoraFixture.Case(name);
        var plan = LoraPlan.Create(LoraFixture.Adapters(c), LoraFixture.Components);
        var merged = LoraFixture.Components.Keys.SelectMany(component => plan.Merge(component).Select(w => (component, w)))
            .ToDictionary(x => (x.component, x.w.Name), x => x.w);
        var modules = c.Root.GetProperty("lora").GetProperty("merged_modules").EnumerateArray().ToList();
        var weightZero = LoraFixture.Adapters(c).All(a => a.Weight == 0);
        Assert.That(merged, weightZero ? Is.Empty : Has.Count.EqualTo(modules.Count), "overridden initializers (none at weight 0: the export's own weights stay)");
        if (weightZero) return;
        foreach (var m in modules)
        {
            var key = (m.GetProperty("component").GetString()!, m.GetProperty("onnx_initializer").GetString()!);
            Assert.That(merged.ContainsKey(key), $"{key} was not merged");
            var weight = merged[key];
            var summary = m.GetProperty("merged_onnx_layout");
            Assert.That(weight.Dims, Is.EqualTo(SdReferenceCase.Shape(summary)), $"{key}: shape");
            var first16 = summary.GetProperty("first16").EnumerateArray().Select(e => e.GetDouble()).ToArray();
            Tolerance.AssertClose(weight.Values.AsSpan(0, 16), first16, $"{key}: first 16 values", abs: 1e-6, rel: 1e-6);
            var sum = weight.Values.Sum(v => (double)v);
            var absSum = weight.Values.Sum(v => Math.Abs((double)v));
            Assert.That(sum, Is.EqualTo(summary.GetProperty("sum").GetDouble()).Within(1e-6 * weight.Values.Length + 1e-6 * absSum), $"{key}: sum");
            Assert.That(absSum, Is.EqualTo(summary.GetProperty("abs_sum").GetDouble()).Within(1e-6 * weight.Values.Length + 1e-6 * absSum), $"{key}: abs sum");
            Assert.That(weight.Values.Max(v => Math.Abs(v)), Is.EqualTo(summary.GetProperty("abs_max").GetDouble()).Within(1e-6 + 1e-6 * summary.GetProperty("abs_max").GetDouble()), $"{key}: abs max");
        }
    }

    [TestCase("K1")]
    [TestCase("K2")]
    [TestCase("P1")]
    public void EveryKeyLandsOnTheInitializerTheExportNamesForIt(string id)
    {
        var entry = LoraFixture.KeyMap.GetProperty("adapters").GetProperty(id);
        var plan = LoraPlan.Create([new LoraAdapter(LoraFixture.AdapterPath(entry.GetProperty("file").GetString()!), 1.0)], LoraFixture.Components);
        var report = plan.Report.Adapters.Single();
        var expected = entry.GetProperty("modules").EnumerateArray().ToList();
        Assert.That(report.Modules, Has.Count.EqualTo(expected.Count), "modules");
        Assert.That(report.NotApplied, Is.Empty, "every module applies");
        Assert.That(report.IgnoredKeys, Is.Empty, "no key is ignored");
        foreach (var e in expected)
        {
            var key = e.GetProperty("key").GetString()!;
            var module = report.Modules.Single(m => m.Keys.Any(k => k.StartsWith(key + ".", StringComparison.Ordinal)));
            Assert.That(module.Component, Is.EqualTo(e.GetProperty("component").GetString()), $"{key}: component");
            Assert.That(module.Initializer, Is.EqualTo(e.GetProperty("onnx_initializer").GetString()), $"{key}: initializer");
            Assert.That(module.Node, Is.EqualTo(e.GetProperty("onnx_node").GetString()), $"{key}: node");
            Assert.That(module.Transposed, Is.EqualTo(e.GetProperty("transposed").GetBoolean()), $"{key}: transposed");
            Assert.That(module.Rank, Is.EqualTo(e.GetProperty("rank").GetInt32()), $"{key}: rank");
            Assert.That(module.Scale, Is.EqualTo(e.GetProperty("scale").GetDouble()).Within(1e-12), $"{key}: scale");
        }
    }

    [Test]
    public async Task WeightZeroGivesExactlyTheRunWithoutAdapter()
    {
        var c = LoraFixture.Case("R4-kohya-k1-0.0");
        using var model = LoraFixture.Load(new LoraAdapter(LoraFixture.K1, 0.0));
        Assert.That(model.Lora.Adapters.Single().Applied.Count(), Is.EqualTo(64), "the adapter is read and mapped all the same");
        Assert.That(model.Lora.OverriddenInitializers, Is.Empty, "no weight is overridden");
        var with = await new StableDiffusionPipeline(model, TestHost.Factory).GenerateAsync(SdFixture.Request(c));
        var without = await SdFixture.Pipeline.GenerateAsync(SdFixture.Request(c));
        Assert.That(with.Latents, Is.EqualTo(without.Latents), "final latents, bit for bit");
        Assert.That(with.Images, Is.EqualTo(without.Images), "image, bit for bit");
        Assert.That(with.Png[0], Is.EqualTo(without.Png[0]), "PNG bytes");
    }
}
