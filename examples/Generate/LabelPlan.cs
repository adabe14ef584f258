using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Generate;

/// <summary>Which class label each image gets, and how the grid is laid out so that rows read naturally.</summary>
internal static class LabelPlan
{
    /// <summary>
    /// 'none' (or an unconditional model): no labels. A number: that class for every image. 'all': every class in
    /// turn — when the batch is a multiple of the class count, one row per class.
    /// </summary>
    public static (IReadOnlyList<long>? Labels, int? Columns) For(string label, int batch, ModelInfo model, int? columns)
    {
        if (!model.HasClassLabels || label == "none") return (null, columns);
        // Computed lists, not arrays: a batch too large for memory is refused by the pipeline before anything is allocated.
        if (label != "all")
        {
            var one = long.Parse(label, System.Globalization.CultureInfo.InvariantCulture);
            return (new Computed(batch, _ => one), columns);
        }
        var classes = model.NumClasses ?? 10;
        if (batch % classes == 0)
        {
            var perClass = batch / classes;
            return (new Computed(batch, i => i / perClass), columns ?? perClass);
        }
        return (new Computed(batch, i => i % classes), columns);
    }

    private sealed class Computed(int count, Func<int, long> label) : IReadOnlyList<long>
    {
        public long this[int index] => (uint)index < (uint)count ? label(index) : throw new ArgumentOutOfRangeException(nameof(index));
        public int Count => count;
        public IEnumerator<long> GetEnumerator() { for (var i = 0; i < count; i++) yield return label(i); }
        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }
}
