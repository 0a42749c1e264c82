using Microsoft.Extensions.Options;

namespace OcapDgc.Hosting;

/// <summary>Checks <see cref="ExportShardOptions"/> at start-up and names a value that is out of range, by its key.</summary>
public sealed class ExportShardOptionsValidator : IValidateOptions<ExportShardOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, ExportShardOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.CachedRows is < 0
            ? ValidateOptionsResult.Fail($"{ExportShardOptions.Section}:{nameof(options.CachedRows)} must be 0 (no cache) or more (got {options.CachedRows}).")
            : ValidateOptionsResult.Success;
    }
}
