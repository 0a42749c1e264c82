using Microsoft.Extensions.Options;

namespace OcapDgc.Hosting;

/// <summary>Checks <see cref="CycleOptions"/> at start-up and names every value that is out of range, by its key.</summary>
public sealed class CycleOptionsValidator : IValidateOptions<CycleOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, CycleOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = Problems(options).ToList();
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static IEnumerable<string> Problems(CycleOptions o)
    {
        const string section = CycleOptions.Section;
        foreach (var (key, value) in new[] { (nameof(o.ScanInterval), o.ScanInterval), (nameof(o.TraceTimeout), o.TraceTimeout) })
        {
            if (value <= TimeSpan.Zero)
            {
                yield return $"{section}:{key} must be positive (got {value}).";
            }
        }

        if (o.SuspectAfter < TimeSpan.Zero)
        {
            yield return $"{section}:{nameof(o.SuspectAfter)} must not be negative (got {o.SuspectAfter}).";
        }

        foreach (var (key, value, max) in new[] { (nameof(o.MaxConcurrentTraces), o.MaxConcurrentTraces, 1024), (nameof(o.MaxNodesPerTrace), o.MaxNodesPerTrace, 1_000_000), (nameof(o.MaxActiveNodes), o.MaxActiveNodes, 10_000_000) })
        {
            if (value < 1 || value > max)
            {
                yield return $"{section}:{key} must be 1-{max} (got {value}).";
            }
        }

        if (o.MaxActiveNodes < o.MaxNodesPerTrace)
        {
            yield return $"{section}:{nameof(o.MaxActiveNodes)} ({o.MaxActiveNodes}) must be at least {section}:{nameof(o.MaxNodesPerTrace)} ({o.MaxNodesPerTrace}).";
        }
    }
}
