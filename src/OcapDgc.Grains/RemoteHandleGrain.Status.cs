using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OcapDgc.Hosting;
using OcapDgc.Internal;
using OcapDgc.Observability;
using OcapDgc.Transport;
using OcapDgc.Wire;

namespace OcapDgc;

/// <summary>What the handle shows operators: figures, status, "why is it alive", and the counts it publishes for the gauges.</summary>
public sealed partial class RemoteHandleGrain
{
    /// <inheritdoc />
    public Task<RemoteStatus> GetStatusAsync()
    {
        var lease = _pair.Lease;
        return Task.FromResult(new RemoteStatus(
            Figures(), clock.GetUtcNow(), lease.Lease, lease.RenewedAt, lease.AgreedAt,
            lease.LastPing == DateTimeOffset.MinValue ? null : lease.LastPing, _lastFrameAt, lease.ActivatedAt,
            _pair.State.PeerIncarnation));
    }

    /// <inheritdoc />
    public Task<RefTrace> TraceRefAsync(string kref)
    {
        DgcIds.ValidateKref(kref, nameof(kref));
        var (s, clist, now) = (_pair.State, _pair.CList, clock.GetUtcNow());
        RefTrace Trace(RefRole role, string? wire, bool reachable, long receipts, LastSend? last, bool confirmed = false) =>
            new(_pair.Local, _pair.Remote, kref, role, wire, reachable, receipts, last?.At, last is { CarrierStream: > 0 } l ? l.CarrierSeq : null, s.Epoch, s.PeerEpoch, now, confirmed);

        if (clist.TryGetExportId(kref, out var id) && s.Exports.TryGetValue(id, out var export))
        {
            return Task.FromResult(Trace(RefRole.Export, WireRef.ToSenderExport(id).ToString(), export.Reachable, 0, clist.LastSendOf(id), export.Confirmed));
        }

        if (clist.TryGetImportId(kref, out id) && s.Imports.TryGetValue(id, out var import))
        {
            return Task.FromResult(Trace(RefRole.Import, WireRef.ToSenderExport(id).ToString(), import.Reachable, import.Receipts, null));
        }

        return Task.FromResult(s.Revoked.Contains(kref) ? Trace(RefRole.RevokedImport, null, false, 0, null) : Trace(RefRole.Unknown, null, false, 0, null));
    }

    private RemoteFigures Figures()
    {
        var (s, c) = (_pair.State, _pair.Counters);
        return new RemoteFigures(
            _pair.Local, _pair.Remote, s.Exports.Count, s.Imports.Count, _pair.CList.ReachableImports(),
            s.Queue.Count, s.Unacked.Count, s.NextSeq, s.HighestApplied, c.BatchesSent, c.BatchesApplied,
            c.DuplicateBatches, c.Rejected, c.FramesSent, c.FramesReceived, s.Incarnation, s.Epoch, s.PeerEpoch,
            s.Revoked.Count, c.LeaseExpiries, c.PingsSent, c.Reconciliations, c.StaleOps, s.Stream, s.PeerStream,
            c.DuplicateMessages, c.LateMessagesRefused, s.EndingSession.Count > 0);
    }

    /// <summary>
    /// Publishes this handle's counts to the silo's registry (for the gauges and the host's sampler) and
    /// records a lease renewal: a few field reads and writes, no allocation.
    /// </summary>
    private void Publish()
    {
        var (s, lease) = (_pair.State, _pair.Lease);
        _gauge?.Publish(s.Exports.Count, s.Imports.Count, s.Queue.Count, s.Unacked.Count, lease.RenewedAt, lease.Lease, _pair.HoldsAnything && _reminder is null);
        if (lease.RenewedAt != _lastRenewedAt)
        {
            if (s.Exports.Count > 0 && DgcMetrics.LeaseRenewed.Enabled)
            {
                DgcMetrics.LeaseRenewed.Record((lease.RenewedAt - _lastRenewedAt).TotalSeconds);
            }

            _lastRenewedAt = lease.RenewedAt;
        }
    }

    /// <summary>After a write: records the size of each batch sealed since the last one recorded (only while the histogram is listened to).</summary>
    private void RecordSealed(PairState s)
    {
        if (s.Stream != _sealedStream)
        {
            (_sealedStream, _sealedUpTo) = (s.Stream, 0);
        }

        if (s.NextSeq - 1 <= _sealedUpTo)
        {
            return;
        }

        if (DgcMetrics.BatchSealed.Enabled)
        {
            // Each operation names exactly one wire ref ("ro+N" / "ro-N") in the batch's JSON.
            for (var i = s.Unacked.Count - 1; i >= 0 && s.Unacked[i].Seq > _sealedUpTo; i--)
            {
                DgcMetrics.BatchSealed.Record(s.Unacked[i].Json.AsSpan().Count("\"ro"));
            }
        }

        _sealedUpTo = s.NextSeq - 1;
    }
}
