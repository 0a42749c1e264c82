using System.Globalization;
using System.Text;

namespace OcapDgc.Host.Observability;

/// <summary>
/// Draws live refs and the reclaim rate over time as a small standalone SVG (no script, no external
/// resources): the demo writes one next to its run. The DGC view draws the same chart in the browser.
/// </summary>
public static class SvgChart
{
    /// <summary>The chart of <paramref name="samples"/> (oldest first) under <paramref name="title"/>.</summary>
    public static string Render(IReadOnlyList<DgcSample> samples, string title)
    {
        ArgumentNullException.ThrowIfNull(samples);
        const double W = 760, H = 320, Left = 70, Right = 70, Top = 40, Bottom = 40;
        var (pw, ph) = (W - Left - Right, H - Top - Bottom);
        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"""<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">""").Append('\n');
        svg.Append(CultureInfo.InvariantCulture, $"""<rect width="{W}" height="{H}" fill="white"/><text x="{Left}" y="22" font-size="15" font-weight="bold">{Escape(title)}</text>""").Append('\n');
        if (samples.Count < 2)
        {
            svg.Append(CultureInfo.InvariantCulture, $"""<text x="{Left}" y="{Top + 20}">not enough samples</text></svg>""");
            return svg.ToString();
        }

        var t0 = samples[0].At;
        var seconds = Math.Max(0.001, (samples[^1].At - t0).TotalSeconds);
        var live = samples.Select(s => (double)(s.Exports + s.Imports)).ToArray();
        var retired = samples.Select(s => (double)(s.Retired - samples[0].Retired)).ToArray();
        // Reclaim rate over the last second (or since the first sample), so 100 ms samples do not draw spikes.
        var rate = new double[samples.Count];
        for (int i = 1, j = 0; i < samples.Count; i++)
        {
            while (j < i - 1 && (samples[i].At - samples[j + 1].At).TotalSeconds >= 1)
            {
                j++;
            }

            var dt = (samples[i].At - samples[j].At).TotalSeconds;
            rate[i] = dt > 0 ? (samples[i].Retired - samples[j].Retired) / dt : 0;
        }

        var maxLeft = Nice(Math.Max(live.Max(), retired.Max()));
        var maxRight = Nice(rate.Max());
        double X(int i) => Left + ((samples[i].At - t0).TotalSeconds / seconds * pw);
        double YL(double v) => Top + ph - (v / maxLeft * ph);
        double YR(double v) => Top + ph - (v / maxRight * ph);

        // Axes and grid.
        for (var g = 0; g <= 4; g++)
        {
            var y = Top + (ph * g / 4);
            svg.Append(CultureInfo.InvariantCulture, $"""<line x1="{Left}" y1="{y:F1}" x2="{Left + pw}" y2="{y:F1}" stroke="#ddd"/>""");
            svg.Append(CultureInfo.InvariantCulture, $"""<text x="{Left - 6}" y="{y + 4:F1}" text-anchor="end">{Short(maxLeft * (4 - g) / 4)}</text>""");
            svg.Append(CultureInfo.InvariantCulture, $"""<text x="{Left + pw + 6}" y="{y + 4:F1}" fill="#c0392b">{Short(maxRight * (4 - g) / 4)}/s</text>""").Append('\n');
        }

        for (var g = 0; g <= 4; g++)
        {
            var x = Left + (pw * g / 4);
            svg.Append(CultureInfo.InvariantCulture, $"""<text x="{x:F1}" y="{Top + ph + 18}" text-anchor="middle">{seconds * g / 4:F1} s</text>""");
        }

        svg.Append(Polyline(live, X, YL, "#2c6fbb", 2)).Append(Polyline(retired, X, YL, "#27ae60", 2)).Append(Polyline(rate, X, YR, "#c0392b", 1.2));
        svg.Append(CultureInfo.InvariantCulture, $"""<g transform="translate({Left + 10},{Top + 8})"><rect width="10" height="3" fill="#2c6fbb"/><text x="14" y="5">live refs (exports + imports)</text>""");
        svg.Append("""<rect y="14" width="10" height="3" fill="#27ae60"/><text x="14" y="19">reclaimed refs (cumulative)</text>""");
        svg.Append("""<rect y="28" width="10" height="3" fill="#c0392b"/><text x="14" y="33">reclaimed per second, over the last second (right axis)</text></g>""").Append('\n');
        svg.Append("</svg>\n");
        return svg.ToString();
    }

    private static string Polyline(double[] values, Func<int, double> x, Func<double, double> y, string colour, double width)
    {
        var points = string.Join(' ', values.Select((v, i) => string.Create(CultureInfo.InvariantCulture, $"{x(i):F1},{y(v):F1}")));
        return string.Create(CultureInfo.InvariantCulture, $"""<polyline fill="none" stroke="{colour}" stroke-width="{width}" points="{points}"/>""") + "\n";
    }

    private static double Nice(double max)
    {
        if (max <= 0)
        {
            return 1;
        }

        var magnitude = Math.Pow(10, Math.Floor(Math.Log10(max)));
        foreach (var step in new[] { 1, 2, 2.5, 5, 10 })
        {
            if (step * magnitude >= max)
            {
                return step * magnitude;
            }
        }

        return 10 * magnitude;
    }

    private static string Short(double v) => v >= 1_000_000 ? (v / 1_000_000).ToString("0.#M", CultureInfo.InvariantCulture)
        : v >= 1000 ? (v / 1000).ToString("0.#k", CultureInfo.InvariantCulture)
        : v.ToString("0.#", CultureInfo.InvariantCulture);

    private static string Escape(string s) => s.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal);
}
