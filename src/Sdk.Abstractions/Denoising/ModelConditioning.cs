namespace Diffusion.Sdk.Abstractions;

/// <summary>
/// One extra named model input given per row of the model's batch, beside the sample, the timestep, the class labels
/// and the encoder hidden states: for example SDXL's pooled <c>text_embeds</c> and <c>time_ids</c>, or an LCM UNet's
/// <c>timestep_cond</c>. The model binds it by <see cref="Name"/>, in the element type it declares.
/// </summary>
/// <param name="Name">The model input's name.</param>
/// <param name="Values">Every row's values, row after row (rows × the product of <see cref="RowShape"/>).</param>
/// <param name="RowShape">The shape of one row's values (the model input's dimensions after the batch).</param>
public sealed record ConditioningInput(string Name, float[] Values, int[] RowShape)
{
    /// <summary>Values per row.</summary>
    public int RowLength { get; } = RowShape.Aggregate(1, (product, d) => checked(product * d));
}

/// <summary>
/// What conditions the model for one whole run, built once before the loop by a conditioner (class labels, CLIP text,
/// two text encoders with micro-conditioning, a guidance embedding…), the unconditional rows of classifier-free
/// guidance included: the loop and the denoisers only select rows, they never rebuild it.
/// </summary>
/// <remarks>
/// Rows follow the reference's batch order: under guidance the unconditional rows come first, then the conditional
/// ones (<c>torch.cat([negative, positive])</c>), so <see cref="Rows"/> is 2B and <see cref="ConditionalRowStart"/> is B;
/// without guidance there are B conditional rows. A model evaluation on items [s, s + n) of the sample reads rows
/// [row, row + n) where <see cref="DenoiserInput.ConditioningRow"/> gives the first.
/// </remarks>
public sealed class ModelConditioning
{
    /// <summary>Describes a run's conditioning.</summary>
    /// <param name="rows">Rows: the batch B, or 2B when <paramref name="hasUnconditionalRows"/>.</param>
    /// <param name="hasUnconditionalRows">Whether the first half of the rows is the unconditional batch of classifier-free guidance.</param>
    /// <param name="encoderHiddenStates">Encoder hidden states, row after row (rows × tokens × width), or empty.</param>
    /// <param name="classLabels">One class label per row, or empty.</param>
    /// <param name="inputs">Extra named inputs, or none.</param>
    /// <exception cref="ArgumentException">A tensor does not divide into <paramref name="rows"/> rows, or names repeat.</exception>
    public ModelConditioning(int rows, bool hasUnconditionalRows, float[]? encoderHiddenStates = null, long[]? classLabels = null, IReadOnlyList<ConditioningInput>? inputs = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1);
        if (hasUnconditionalRows && rows % 2 != 0)
            throw new ArgumentException($"{rows} rows cannot hold an unconditional and a conditional half.", nameof(rows));
        Rows = rows;
        HasUnconditionalRows = hasUnconditionalRows;
        EncoderHiddenStates = encoderHiddenStates ?? [];
        ClassLabels = classLabels ?? [];
        Inputs = inputs ?? [];
        if (EncoderHiddenStates.Length % rows != 0)
            throw new ArgumentException($"{EncoderHiddenStates.Length} hidden-state values cannot be split into {rows} rows.", nameof(encoderHiddenStates));
        if (ClassLabels.Length != 0 && ClassLabels.Length != rows)
            throw new ArgumentException($"{ClassLabels.Length} class labels were given for {rows} rows; give one per row.", nameof(classLabels));
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var input in Inputs)
        {
            if (!names.Add(input.Name)) throw new ArgumentException($"The conditioning input '{input.Name}' is given twice.", nameof(inputs));
            if (input.Values.Length != (long)rows * input.RowLength)
                throw new ArgumentException($"The conditioning input '{input.Name}' has {input.Values.Length} values; {rows} rows of [{string.Join(", ", input.RowShape)}] need {(long)rows * input.RowLength}.", nameof(inputs));
        }
    }

    /// <summary>Rows of the model's batch this conditioning holds.</summary>
    public int Rows { get; }

    /// <summary>Whether the first half of the rows is the unconditional batch of classifier-free guidance.</summary>
    public bool HasUnconditionalRows { get; }

    /// <summary>The first conditional row: <see cref="Rows"/>/2 under guidance, else 0.</summary>
    public int ConditionalRowStart => HasUnconditionalRows ? Rows / 2 : 0;

    /// <summary>Encoder hidden states, row after row, or empty.</summary>
    public float[] EncoderHiddenStates { get; }

    /// <summary>Hidden-state values per row (tokens × width), or 0.</summary>
    public int HiddenStatesRowLength => EncoderHiddenStates.Length / Rows;

    /// <summary>Class labels, one per row, or empty.</summary>
    public long[] ClassLabels { get; }

    /// <summary>Extra named inputs.</summary>
    public IReadOnlyList<ConditioningInput> Inputs { get; }

    /// <summary>The input named <paramref name="name"/>, or null.</summary>
    public ConditioningInput? Find(string name)
    {
        foreach (var input in Inputs)
            if (string.Equals(input.Name, name, StringComparison.Ordinal)) return input;
        return null;
    }

    /// <summary>The rows [<paramref name="row"/>, <paramref name="row"/> + <paramref name="count"/>) of <paramref name="input"/>.</summary>
    public ReadOnlySpan<float> RowsOf(ConditioningInput input, int row, int count)
    {
        ArgumentNullException.ThrowIfNull(input);
        CheckRows(row, count);
        return input.Values.AsSpan(row * input.RowLength, count * input.RowLength);
    }

    internal ReadOnlySpan<float> HiddenRows(int row, int count)
    {
        if (EncoderHiddenStates.Length == 0) return default;
        CheckRows(row, count);
        return EncoderHiddenStates.AsSpan(row * HiddenStatesRowLength, count * HiddenStatesRowLength);
    }

    internal ReadOnlySpan<long> LabelRows(int row, int count)
    {
        if (ClassLabels.Length == 0) return default;
        CheckRows(row, count);
        return ClassLabels.AsSpan(row, count);
    }

    private void CheckRows(int row, int count)
    {
        if (row < 0 || count < 0 || row + count > Rows)
            throw new ArgumentOutOfRangeException(nameof(row), $"Rows {row}…{row + count - 1} were asked of a conditioning with {Rows}.");
    }
}
