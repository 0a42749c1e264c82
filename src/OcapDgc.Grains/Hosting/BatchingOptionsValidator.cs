using Microsoft.Extensions.Options;

namespace OcapDgc.Hosting;

/// <summary>Checks <see cref="BatchingOptions"/> at start-up and names every value that is out of range, by its key.</summary>
public sealed class BatchingOptionsValidator : IValidateOptions<BatchingOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, BatchingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = Problems(options).ToList();
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static IEnumerable<string> Problems(BatchingOptions o)
    {
        const string section = BatchingOptions.Section;
        if (o.FlushInterval <= TimeSpan.Zero)
        {
            yield return $"{section}:FlushInterval must be positive (got {o.FlushInterval}).";
        }

        if (o.RetransmitAfter <= TimeSpan.Zero)
        {
            yield return $"{section}:RetransmitAfter must be positive (got {o.RetransmitAfter}).";
        }

        if (o.MaxBatchSize is < 1 or > 1_000_000)
        {
            yield return $"{section}:MaxBatchSize must be 1-1000000 (got {o.MaxBatchSize}).";
        }

        if (o.ReceiveWindow is < 1 or > 10_000)
        {
            yield return $"{section}:ReceiveWindow must be 1-10000 (got {o.ReceiveWindow}).";
        }
    }
}
