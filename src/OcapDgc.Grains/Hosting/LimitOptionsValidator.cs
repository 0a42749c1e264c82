using Microsoft.Extensions.Options;

namespace OcapDgc.Hosting;

/// <summary>Checks <see cref="LimitOptions"/> at start-up and names every value that is out of range, by its key.</summary>
public sealed class LimitOptionsValidator : IValidateOptions<LimitOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, LimitOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = Problems(options).ToList();
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static IEnumerable<string> Problems(LimitOptions o)
    {
        const string section = LimitOptions.Section;
        foreach (var (key, value) in new[] { (nameof(o.MaxOpsPerBatch), (long)o.MaxOpsPerBatch), (nameof(o.MaxRefsPerMessage), o.MaxRefsPerMessage), (nameof(o.MaxImports), o.MaxImports), (nameof(o.MaxExports), o.MaxExports), (nameof(o.MaxBufferedBytes), o.MaxBufferedBytes) })
        {
            if (value < 1)
            {
                yield return $"{section}:{key} must be at least 1 (got {value}).";
            }
        }
    }
}
