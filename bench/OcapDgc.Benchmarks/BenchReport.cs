using System.Globalization;
using System.Text;
using System.Text.Json;

namespace OcapDgc.Benchmarks;

/// <summary>One measured figure: a numeric JSON key, its value (null when not measured) and how to read it.</summary>
internal sealed record Figure(string Item, string Key, string Label, double? Value, string Unit, string? Target = null, bool? Met = null, string? Note = null);

/// <summary>The figures of one run, printed as a table and written as JSON and markdown.</summary>
internal sealed class BenchReport
{
    /// <summary>The keys every latest.json holds (a number, or null when the figure could not be measured).</summary>
    public static readonly string[] RequiredKeys =
    [
        "export_import_refs_per_s",
        "reclaim_refs_per_s",
        "orleans_call_ceiling_per_s",
        "wire_messages_per_dropped_ref",
        "idle_wire_messages_per_min_100k_refs",
        "idle_wire_messages_per_min_1k_refs",
        "bytes_per_live_ref",
        "rss_growth_after_1m_churn_bytes",
        "crash_reclaim_seconds",
        "lease_seconds",
        "pg_reclaim_refs_per_s",
        // Issue 11: the activation ceiling, send latency against live refs, Java RMI's DGC.
        "orleans_activation_ceiling_per_s",
        "send_ms_at_1k_refs",
        "send_ms_at_100k_refs",
        "send_ms_at_1m_refs",
        "send_latency_ratio_1m_vs_1k",
        "bytes_per_live_ref_at_1m",
        "rmi_import_refs_per_s",
        "rmi_reclaim_refs_per_s",
        "rmi_crash_reclaim_seconds",
        "export_import_vs_rmi",
        "reclaim_vs_rmi",
        "crash_reclaim_vs_rmi",
        "cycle_detection_messages_per_edge",
        "cycle_reclaim_seconds",
        "crash_reclaim_vs_lease",
    ];

    private readonly List<Figure> _figures = [];

    public IReadOnlyList<Figure> Figures => _figures;

    public Dictionary<string, string> Machine { get; } = new(StringComparer.Ordinal);

    public List<string> Notes { get; } = [];

    public void Add(Figure figure)
    {
        _figures.RemoveAll(f => f.Key == figure.Key);
        _figures.Add(figure);
    }

    public double? this[string key] => _figures.FirstOrDefault(f => f.Key == key)?.Value;

    /// <summary>Adds a null figure for every required key not measured, with the reason.</summary>
    public void FillMissing(string item, string key, string label, string unit, string reason)
    {
        if (!_figures.Any(f => f.Key == key))
        {
            Add(new Figure(item, key, label, null, unit, Note: reason));
        }
    }

    public string ToJson()
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            foreach (var key in RequiredKeys.Concat(_figures.Select(f => f.Key)).Distinct(StringComparer.Ordinal))
            {
                var value = this[key];
                if (value is { } v && double.IsFinite(v))
                {
                    w.WriteNumber(key, Math.Round(v, 6));
                }
                else
                {
                    w.WriteNull(key);
                }
            }

            w.WriteStartObject("machine");
            foreach (var (k, v) in Machine)
            {
                w.WriteString(k, v);
            }

            w.WriteEndObject();
            w.WriteStartArray("figures");
            foreach (var f in _figures)
            {
                w.WriteStartObject();
                w.WriteString("item", f.Item);
                w.WriteString("key", f.Key);
                w.WriteString("label", f.Label);
                w.WriteString("unit", f.Unit);
                if (f.Target is not null)
                {
                    w.WriteString("target", f.Target);
                }

                if (f.Met is { } met)
                {
                    w.WriteBoolean("met", met);
                }

                if (f.Note is not null)
                {
                    w.WriteString("note", f.Note);
                }

                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteStartArray("notes");
            foreach (var n in Notes)
            {
                w.WriteStringValue(n);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray()) + Environment.NewLine;
    }

    /// <summary>A plain-text table for the console.</summary>
    public string ToTable()
    {
        var rows = _figures.Select(f => new[] { f.Item, f.Label, Format(f), f.Unit, Verdict(f), f.Key }).ToList();
        string[] header = ["item", "figure", "value", "unit", "target", "json key"];
        var widths = header.Select((h, i) => Math.Max(h.Length, rows.Count == 0 ? 0 : rows.Max(r => r[i].Length))).ToArray();
        var sb = new StringBuilder();
        void Line(string[] cells) => sb.AppendLine(string.Join("  ", cells.Select((c, i) => i == 2 ? c.PadLeft(widths[i]) : c.PadRight(widths[i]))).TrimEnd());
        Line(header);
        Line([.. widths.Select(w => new string('-', w))]);
        foreach (var r in rows)
        {
            Line(r);
        }

        return sb.ToString();
    }

    public string ToMarkdown()
    {
        var sb = new StringBuilder();
        sb.AppendLine("# Benchmark: latest run");
        sb.AppendLine();
        sb.AppendLine("Written by `dotnet run -c Release --project bench/OcapDgc.Benchmarks`; what each figure means and how it is");
        sb.AppendLine("measured is in [README.md](README.md). The same figures are in [latest.json](latest.json).");
        sb.AppendLine();
        sb.AppendLine("| machine | |");
        sb.AppendLine("| --- | --- |");
        foreach (var (k, v) in Machine)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"| {k} | {v} |");
        }

        sb.AppendLine();
        sb.AppendLine("| item | figure | value | unit | target | JSON key |");
        sb.AppendLine("| --- | --- | ---: | --- | --- | --- |");
        foreach (var f in _figures)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"| {f.Item} | {f.Label} | {Format(f)} | {f.Unit} | {Verdict(f)} | `{f.Key}` |");
        }

        var notes = Notes.Concat(_figures.Where(f => f.Note is not null).Select(f => $"`{f.Key}`: {f.Note}")).ToList();
        if (notes.Count > 0)
        {
            sb.AppendLine();
            sb.AppendLine("Notes:");
            sb.AppendLine();
            foreach (var n in notes)
            {
                sb.AppendLine(CultureInfo.InvariantCulture, $"- {n}");
            }
        }

        return sb.ToString();
    }

    private static string Verdict(Figure f) => f.Target is null ? "" : f.Met switch
    {
        true => $"{f.Target}: met",
        false => $"{f.Target}: MISSED",
        null => $"{f.Target}: n/a",
    };

    private static string Format(Figure f)
    {
        if (f.Value is not { } v)
        {
            return f.Note is { } note && note.StartsWith("n/a", StringComparison.Ordinal) ? note.Split(':')[0] : "n/a";
        }

        var abs = Math.Abs(v);
        return abs == 0 ? "0"
            : abs >= 1000 ? v.ToString("N0", CultureInfo.InvariantCulture)
            : abs >= 10 ? v.ToString("F1", CultureInfo.InvariantCulture)
            : abs >= 0.01 ? v.ToString("F3", CultureInfo.InvariantCulture)
            : v.ToString("G3", CultureInfo.InvariantCulture);
    }
}
