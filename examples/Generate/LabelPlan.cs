using Diffusion.Denoising;

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
        if (label != "all") return (Enumerable.Repeat(long.Parse(label, System.Globalization.CultureInfo.InvariantCulture), batch).ToArray(), columns);
        var classes = model.NumClasses ?? 10;
        if (batch % classes == 0)
        {
            var perClass = batch / classes;
            return (Enumerable.Range(0, batch).Select(i => (long)(i / perClass)).ToArray(), columns ?? perClass);
        }
        return (Enumerable.Range(0, batch).Select(i => (long)(i % classes)).ToArray(), columns);
    }
}
