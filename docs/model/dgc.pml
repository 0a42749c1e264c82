/*
 * dgc.pml: a Promela model of ocap-dgc's pair protocol, checked exhaustively by spin.
 * What is modelled and what is abstracted, the figures and how to run: docs/model/README.md.
 *
 * Two kernels. The exporter E owns two objects (0 and 1) and sends references to them to the
 * importer I. E counts every send before the message leaves; I counts receipts, drops an import
 * with the receipts it releases, and retires it only after dropping it. I's GC operations (addRef,
 * dropRef, retire) travel in sequenced batches; E applies each batch exactly once and in order,
 * buffers one batch ahead of a gap and acknowledges cumulatively; I resends what is not
 * acknowledged. Each direction of the wire is a bag: frames are delivered in any order, and may be
 * lost or duplicated. E's export session towards I has an epoch: a lapsed lease releases all of
 * I's holds and starts a new epoch; I learns the new epoch from the header of E's next frame and
 * revokes its imports; operations written in an ended epoch are ignored. I may restart (a new
 * incarnation and batch stream), which E treats like a lapsed lease.
 *
 * Properties:
 *   S1  (Monitor) E never releases an object while I holds it: whenever I has a reachable import
 *       of wire id N in E's current epoch, E's c-list maps N to that object and its count is > 0.
 *   S2  (importRef) Within one epoch, I never resolves a wire id to two different objects.
 *   V   (Monitor) E never refuses an operation: no unknown wire id, no drop of more receipts than
 *       it counted. Left out of the broken variants, so that what they report is S1.
 *   L3  (ltl reclaim, -DLIVENESS, weak fairness) Once the workload stops (ghost `quit`: E sends no
 *       more; I drops and retires whatever it holds or still receives), every hold of I at E is
 *       eventually gone. Compiled with -DLEASES=0 -DRESTARTS=0 -DNO_MSG_LOSS it is L3-gc: drop,
 *       retire, acknowledgement and retransmission reclaim everything without any lease expiry.
 *   (S1, S2 and L3 are named as in tests/OcapDgc.Tests/Model/ModelTests.cs.)
 *
 * Deliberately broken variants; with each, spin must report an S1 violation:
 *   -DBROKEN_EPOCH   E applies a batch's operations without checking the epoch they were written in.
 *   -DBROKEN_DEDUP   E applies a duplicate of the last batch it applied again (an off-by-one).
 *   -DBROKEN_PURGE   I keeps its queued operations when it revokes, so they leave under the new epoch.
 *   -DBROKEN_RETIRE  E removes the hold on a retire even when a re-send crossed it (count > 0).
 * one for S2; spin must report an S2 violation:
 *   -DBROKEN_STALE   I imports a ref of an ended epoch as if it were of the current one (which also
 *                    breaks S1; with -DNO_S1 the Monitor leaves S1 out, so that S2 is what is reported).
 * and one for liveness; with it, L3-gc must fail (an acceptance cycle):
 *   -DBROKEN_RESEND  I forgets a batch once sent, so a lost batch is never sent again.
 *
 * Bounds (all -D overridable): MAXSEND messages, CAP frames per direction, FAULTS losses and
 * duplications, LEASES lease expiries (safety), RESTARTS restarts of I. -DQUIET_TIMERS lets the
 * retransmission and ping timers fire only when nothing else can happen (spin's `timeout`);
 * otherwise they fire at any moment. LIVENESS implies QUIET_TIMERS.
 */

#ifndef MAXSEND
#define MAXSEND 2        /* messages E sends in all, each carrying one reference (at most 3) */
#endif
#ifndef CAP
#define CAP 2            /* frames in flight per direction (2 or 3) */
#endif
#ifndef FAULTS
#define FAULTS 2         /* frames the wire may lose or duplicate, in all */
#endif
#ifndef LEASES
#define LEASES 1         /* (safety) lease expiries at E; under LIVENESS 0 disables them */
#endif
#ifndef RESTARTS
#define RESTARTS 1       /* restarts of I */
#endif
#define UMAX 3           /* I's unacknowledged batches */
#define QMAX 9           /* I's queued operations: addRef, dropRef, retire of at most 3 imports */
#define WINDOW 2         /* E buffers batch HighestApplied + 2 (one slot) */

#if defined(BROKEN_EPOCH) || defined(BROKEN_DEDUP) || defined(BROKEN_PURGE) || defined(BROKEN_RETIRE) \
    || defined(BROKEN_STALE) || defined(BROKEN_RESEND)
#define BROKEN 1
#endif
#ifdef LIVENESS
#define QUIET_TIMERS 1
#endif

/* ---- frames: one int each, so that a bag is a sorted array of ints -------------------------------- */
#define F_MSG   1   /* E->I application message: a=message number, b=E's epoch, d=(wire id<<1)|object */
#define F_PONG  2   /* E->I answer to a ping: b=E's epoch */
#define F_ACK   3   /* E->I cumulative ack: a=I's stream (incarnation), b=E's epoch, c=highest applied */
#define F_BATCH 4   /* I->E batch: a=I's incarnation (its stream), b=E's epoch as I knew it, c=seq, d=op */
#define F_PING  5   /* I->E ping, also I's greeting after a restart: a=I's incarnation, b=E's epoch */

#define MK(k,a,b,c,d) (((k) << 28) | ((a) << 24) | ((b) << 20) | ((c) << 12) | (d))
#define FK(f) (((f) >> 28) & 7)
#define FA(f) (((f) >> 24) & 15)
#define FB(f) (((f) >> 20) & 15)
#define FC(f) (((f) >> 12) & 255)
#define FD(f) ((f) & 4095)

/* ---- GC operations: one byte (kind, wire id, receipts released) ----------------------------------- */
#define ADDREF 1
#define DROP   2
#define RETIRE 3
/* Names for the narration (printf's %e); spin numbers them from the end: addRef = 1, dropRef = 2,
   retire = 3, then loses = 4, duplicates = 5, msg = 6 = F_MSG + 5, ..., ping = 10 = F_PING + 5. */
mtype = { retire, dropRef, addRef };
mtype = { ping, batch, ack, pong, msg, duplicates, loses };
#define OP(k,id,n) (((k) << 4) | ((id) << 2) | (n))
#define OPK(o)  ((o) >> 4)
#define OPID(o) (((o) >> 2) & 3)
#define OPN(o)  ((o) & 3)

/* ---- I's import entries: one byte per wire id (present, reachable, receipts, object) -------------- */
#define PRESENT 128
#define REACH   64
#define RCPT(e) (((e) >> 4) & 3)
#define OBJ(e)  ((e) & 1)
#define IMPORTS (imp[1] | imp[2] | imp[3])

/* ---- the wire -------------------------------------------------------------------------------------- */
#define TO_I 0
#define TO_E 1
int  w[2 * CAP];                 /* direction d: w[d*CAP .. d*CAP+CAP-1], sorted, nonzero first */
byte wn[2];                      /* frames in flight per direction */
#define ebn wn[TO_I]
#define ibn wn[TO_E]
byte faults;                     /* losses and duplications so far */

/* ---- exporter E ------------------------------------------------------------------------------------ */
byte eEp = 1;                    /* E's export session (epoch) towards I */
byte eNextId = 1;                /* next wire id: never goes back within an epoch (starts again with one) */
byte wid[2];                     /* object -> its wire id in E's c-list for I; 0: I has no hold on it */
byte cnt[2];                     /* object -> sends to I minus receipts I released */
byte ePeerInc = 1;               /* I's incarnation as E knows it, which is also I's batch stream */
byte eHA;                        /* highest batch of that stream applied */
int  eBuf;                       /* the one batch buffered ahead of a gap */
byte sends;                      /* messages sent so far, which numbers them */
byte leases;                     /* lease expiries so far */

/* ---- importer I ------------------------------------------------------------------------------------ */
byte iInc = 1;                   /* I's incarnation */
byte iPeerEp = 1;                /* E's epoch as I last learned it; imp[] belongs to it */
byte imp[4];                     /* wire id 1..3 -> import entry */
byte q[QMAX];   byte qn;         /* queued operations, not yet in a batch */
int  u[UMAX];   byte un;         /* unacknowledged batches, oldest first, header included */
byte iNextSeq = 1;
byte seen;                       /* application messages delivered: one bit per message number */
bool quit;                       /* (LIVENESS) the workload has stopped */

/* ---- ghosts ---------------------------------------------------------------------------------------- */
int  s2log;                      /* (epoch, wire id) -> 1 + the object I resolved it to, 2 bits each */
bool s1_premature_release;
bool s2_one_id_two_objects;
bool v_operation_refused;

/* I holds wire id `n` reachable in E's current epoch, but E does not count it for that object. */
#define PREMATURE(n) ((imp[n] & (PRESENT | REACH)) == (PRESENT | REACH) && iPeerEp == eEp \
                      && !(wid[OBJ(imp[n])] == n && cnt[OBJ(imp[n])] > 0))
#define S1_VIOLATED (PREMATURE(1) || PREMATURE(2) || PREMATURE(3))

#ifdef QUIET_TIMERS
#define TIMER timeout            /* a timer fires only when nothing else can happen */
#else
#define TIMER true               /* a timer may fire at any moment */
#endif

#ifdef LIVENESS
#define KERNEL_DROPS quit        /* I's kernel uses its imports until the workload stops */
#define MAY_SEND (!quit)
/* A lease lapses only when I is silent: it imports nothing and has nothing to send or resend. */
#define LEASE_MAY_LAPSE (LEASES > 0 && IMPORTS == 0 && qn == 0 && un == 0 && ibn == 0)
#else
#define KERNEL_DROPS true        /* the kernel may drop or retire at any moment */
#define MAY_SEND true
#define LEASE_MAY_LAPSE (leases < LEASES)   /* a partition: at any moment */
#endif

#ifdef NO_MSG_LOSS
#define LOSABLE(f) (FK(f) != F_MSG)
#else
#define LOSABLE(f) true
#endif
#define LOSE(f) (faults < FAULTS && LOSABLE(f))
#define DUP_TO_I(f) (faults < FAULTS && ebn < CAP)
#define DUP_TO_E(f) (faults < FAULTS && ibn < CAP)
#define ANY(f) true

/* Whether frame f is in flight towards E; whether a frame of kind x is in flight in direction d. */
#if CAP > 2
#define IN_TO_E(f) ((ibn > 0 && w[CAP] == (f)) || (ibn > 1 && w[CAP+1] == (f)) || (ibn > 2 && w[CAP+2] == (f)))
#define KIND_IN(d, x) ((wn[d] > 0 && FK(w[d*CAP]) == (x)) || (wn[d] > 1 && FK(w[d*CAP+1]) == (x)) \
                       || (wn[d] > 2 && FK(w[d*CAP+2]) == (x)))
#else
#define IN_TO_E(f) ((ibn > 0 && w[CAP] == (f)) || (ibn > 1 && w[CAP+1] == (f)))
#define KIND_IN(d, x) ((wn[d] > 0 && FK(w[d*CAP]) == (x)) || (wn[d] > 1 && FK(w[d*CAP+1]) == (x)))
#endif

/* ---- bags ------------------------------------------------------------------------------------------ */
/* Chooses any frame in flight in direction d that satisfies c: a nondeterministic index into i. */
#if CAP > 2
#define PICK(d, i, c) if :: wn[d] > 0 && c(w[d*CAP]) -> i = 0 :: wn[d] > 1 && c(w[d*CAP+1]) -> i = 1 \
                         :: wn[d] > 2 && c(w[d*CAP+2]) -> i = 2 fi
#else
#define PICK(d, i, c) if :: wn[d] > 0 && c(w[d*CAP]) -> i = 0 :: wn[d] > 1 && c(w[d*CAP+1]) -> i = 1 fi
#endif

/* Adds frame f in direction d, keeping the bag sorted: one state per multiset of frames. */
inline put(d, f) {
  assert(wn[d] < CAP);
  k = wn[d]; w[d*CAP + k] = f; wn[d]++;
  do
  :: k > 0 ->
     if
     :: w[d*CAP + k-1] < w[d*CAP + k] -> t = w[d*CAP + k-1]; w[d*CAP + k-1] = w[d*CAP + k]; w[d*CAP + k] = t; k--
     :: else -> break
     fi
  :: else -> break
  od;
  k = 0; t = 0
}

/* Removes the frame at index i of direction d, into f. */
inline take(d, i, f) {
  f = w[d*CAP + i];
  k = i;
  do
  :: k + 1 < wn[d] -> w[d*CAP + k] = w[d*CAP + k+1]; k++
  :: else -> break
  od;
  wn[d]--; w[d*CAP + wn[d]] = 0;
  k = 0
}

/* A reply (ack, pong) finding the wire full is lost; retransmission and pings recover. */
inline reply(f) {
  if
  :: ebn < CAP -> put(TO_I, f)
  :: else -> skip
  fi
}

/* ---- exporter -------------------------------------------------------------------------------------- */

/* EndSessionAsync: every hold of I is released and a new epoch starts, whose wire ids start at 1. */
inline endSession() {
  wid[0] = 0; wid[1] = 0; cnt[0] = 0; cnt[1] = 0;
  eEp++; eNextId = 1;
  printf("E: releases all of I's holds; epoch %d begins\n", eEp)
}

/* ApplyBatchAsync + ExportGrain.ApplyAsync: the batch's operation, if written in E's current epoch. */
inline apply(g) {
  if
#ifndef BROKEN_EPOCH
  :: FB(g) != eEp ->                                           /* written in an ended epoch: stale */
     printf("E: batch %d, %e ro-%d, was written in epoch %d: stale\n", FC(g), OPK(FD(g)), OPID(FD(g)), FB(g))
#endif
  :: else ->
     if
     :: wid[0] == OPID(FD(g)) -> o = 0
     :: wid[1] == OPID(FD(g)) -> o = 1
     :: else -> o = 2
     fi;
     printf("E: applies batch %d (epoch %d): %e ro-%d (%d receipts)\n", FC(g), FB(g), OPK(FD(g)), OPID(FD(g)), OPN(FD(g)));
     if
     :: o == 2 -> v_operation_refused = true                  /* names no export to I: refused */
     :: else ->
        if
        :: OPK(FD(g)) == ADDREF -> skip                         /* confirms the import */
        :: OPK(FD(g)) == DROP ->
           if
           :: OPN(FD(g)) > cnt[o] -> v_operation_refused = true      /* over-release: refused */
           :: else -> cnt[o] = cnt[o] - OPN(FD(g))
           fi
        :: OPK(FD(g)) == RETIRE ->
           if
#ifndef BROKEN_RETIRE
           :: cnt[o] > 0 -> skip                                /* crossed a re-send: the hold stays */
#endif
           :: else -> wid[o] = 0; cnt[o] = 0                    /* I forgot it: the hold goes */
           fi
        fi;
        printf("E: object %d: count %d, wire id %d (0: I's hold is gone)\n", o, cnt[o], wid[o])
     fi
  fi;
  o = 0
}

/* ReceiveBatchAsync: each batch once and in order; duplicates re-acknowledged; one buffered ahead. */
inline receiveBatch(f) {
  if
  :: FC(f) <= eHA ->
#ifdef BROKEN_DEDUP
     if
     :: FC(f) == eHA -> apply(f)
     :: else -> skip
     fi;
#endif
     reply(MK(F_ACK, ePeerInc, eEp, eHA, 0))
  :: FC(f) == eHA + 1 ->
     apply(f); eHA = FC(f);
     if
     :: eBuf != 0 && FC(eBuf) == eHA + 1 -> apply(eBuf); eHA = FC(eBuf); eBuf = 0
     :: else -> skip
     fi;
     if
     :: eBuf != 0 && FC(eBuf) <= eHA -> eBuf = 0
     :: else -> skip
     fi;
     reply(MK(F_ACK, ePeerInc, eEp, eHA, 0))
  :: FC(f) > eHA + 1 ->
     if
     :: FC(f) <= eHA + WINDOW && eBuf == 0 -> eBuf = f
     :: else -> skip                                            /* beyond the window: resent later */
     fi
  fi
}

active proctype Exporter() {
  byte i, k, o;
  int f, t;
end:
  do
  /* a frame from I: its session first (AcceptSessionAsync), then by kind */
  :: atomic {
       PICK(TO_E, i, ANY);
       take(TO_E, i, f);
       if
       :: FA(f) < ePeerInc -> skip                              /* a dead incarnation's frame */
       :: else ->
          if
          :: FA(f) > ePeerInc ->                                /* I restarted: like a lapsed lease */
             printf("E: I has a new incarnation %d\n", FA(f));
             if
             :: wid[0] != 0 || wid[1] != 0 -> endSession()
             :: else -> skip                                    /* nothing held: the epoch stays */
             fi;
             ePeerInc = FA(f); eHA = 0; eBuf = 0
          :: else -> skip
          fi;
          if
          :: FK(f) == F_PING -> reply(MK(F_PONG, 0, eEp, 0, 0))
          :: FK(f) == F_BATCH -> receiveBatch(f)
          fi
       fi;
       i = 0; f = 0
     }
  /* the kernel sends an object: the count grows before the message leaves (ExportCoreAsync) */
  :: atomic {
       MAY_SEND && sends < MAXSEND && ebn < CAP ->
       if
       :: o = 0
       :: sends > 0 -> o = 1                                    /* the objects are symmetric */
       fi;
       if
       :: wid[o] == 0 -> wid[o] = eNextId; eNextId++
       :: else -> skip
       fi;
       cnt[o]++;
       sends++;
       printf("E: message %d carries object %d as ro+%d of epoch %d (count %d)\n", sends, o, wid[o], eEp, cnt[o]);
       put(TO_I, MK(F_MSG, sends, eEp, 0, (wid[o] << 1) | o));
       o = 0
     }
  /* CheckLeaseCoreAsync: I's lease lapses while it holds something */
  :: atomic {
       (wid[0] != 0 || wid[1] != 0) && LEASE_MAY_LAPSE ->
       printf("E: I's lease lapses\n");
       endSession(); leases++
     }
  /* the wire towards E loses or duplicates a frame */
  :: atomic { PICK(TO_E, i, LOSE); take(TO_E, i, f); faults++; printf("wire: %e a %e frame to E (a=%d b=%d c=%d)\n", loses, FK(f) + 5, FA(f), FB(f), FC(f)); i = 0; f = 0 }
  :: atomic {
       PICK(TO_E, i, DUP_TO_E); f = w[TO_E*CAP + i]; put(TO_E, f); faults++;
       printf("wire: %e a %e frame to E (a=%d b=%d c=%d)\n", duplicates, FK(f) + 5, FA(f), FB(f), FC(f));
       i = 0; f = 0
     }
  od
}

/* ---- importer -------------------------------------------------------------------------------------- */

/* RevokeImportsAsync: imports of the ended epoch go, and so do the queued operations naming them. */
inline revoke() {
  imp[1] = 0; imp[2] = 0; imp[3] = 0;
#ifndef BROKEN_PURGE
  do
  :: qn > 0 -> qn--; q[qn] = 0
  :: else -> break
  od
#endif
}

/* ImportCoreAsync: one receipt of wire id `n` of epoch `ep`, naming object `ob`. */
inline importRef(ep, n, ob) {
  id = (n); o = (ob);
  k = ((ep) - 1) * 3 + id - 1;
  assert(k < 15);
  t = (s2log >> (2 * k)) & 3;
  if
  :: t != 0 && t != o + 1 -> s2_one_id_two_objects = true
  :: else -> skip
  fi;
  assert(!s2_one_id_two_objects);
  s2log = s2log | ((o + 1) << (2 * k));
  printf("I: receives ro+%d of epoch %d, object %d\n", id, ep, o);
  if
  :: imp[id] & PRESENT ->
     assert(RCPT(imp[id]) < 3);
     imp[id] = (imp[id] & ~(3 << 4)) | ((RCPT(imp[id]) + 1) << 4) | REACH
  :: else ->
     imp[id] = PRESENT | REACH | (1 << 4) | o;
     assert(qn < QMAX);
     q[qn] = OP(ADDREF, id, 0); qn++
  fi;
  id = 0; o = 0; k = 0; t = 0
}

active proctype Importer() {
  byte i, k, id, o;
  int f, t;
end:
  do
  /* a frame from E: a newer epoch revokes first (AcceptSessionAsync), then by kind */
  :: atomic {
       PICK(TO_I, i, ANY);
       take(TO_I, i, f);
       if
       :: FB(f) > iPeerEp ->
          printf("I: E is in epoch %d now: revokes its imports\n", FB(f));
          revoke(); iPeerEp = FB(f)
       :: else -> skip
       fi;
       if
       :: FK(f) == F_MSG ->
          if
          :: seen & (1 << FA(f)) ->                             /* a duplicate message: delivered once */
             printf("I: message %d again: ignored\n", FA(f))
          :: else ->
             seen = seen | (1 << FA(f));
             if
#ifndef BROKEN_STALE
             :: FB(f) < iPeerEp ->                              /* refs of an ended epoch: stale */
                printf("I: message %d is of ended epoch %d: its ref is refused\n", FA(f), FB(f))
#endif
             :: else -> importRef(iPeerEp, FD(f) >> 1, FD(f) & 1)
             fi
          fi
       :: FK(f) == F_ACK ->
          if
          :: FA(f) == iInc ->                                   /* cumulative: acknowledged batches go */
             do
             :: un > 0 && FC(u[0]) <= FC(f) ->
                i = 0;
                do
                :: i + 1 < un -> u[i] = u[i+1]; i++
                :: else -> break
                od;
                un--; u[un] = 0
             :: else -> break
             od
          :: else -> skip                                       /* an ack of an older stream */
          fi
       :: FK(f) == F_PONG -> skip                               /* its header was all it carried */
       fi;
       i = 0; f = 0
     }
  /* DropImportsAsync: release the receipts counted so far */
  :: atomic {
       if
       :: KERNEL_DROPS && (imp[1] & REACH) -> id = 1
       :: KERNEL_DROPS && (imp[2] & REACH) -> id = 2
       :: KERNEL_DROPS && (imp[3] & REACH) -> id = 3
       fi;
       assert(qn < QMAX);
       q[qn] = OP(DROP, id, RCPT(imp[id])); qn++;
       printf("I: drops ro+%d, releasing %d receipts\n", id, RCPT(imp[id]));
       imp[id] = imp[id] & ~(REACH | (3 << 4));
       id = 0
     }
  /* RetireImportsAsync: only an import that was dropped */
  :: atomic {
       if
       :: KERNEL_DROPS && (imp[1] & (PRESENT | REACH)) == PRESENT -> id = 1
       :: KERNEL_DROPS && (imp[2] & (PRESENT | REACH)) == PRESENT -> id = 2
       :: KERNEL_DROPS && (imp[3] & (PRESENT | REACH)) == PRESENT -> id = 3
       fi;
       assert(qn < QMAX);
       q[qn] = OP(RETIRE, id, 0); qn++;
       printf("I: retires ro+%d\n", id);
       imp[id] = 0;
       id = 0
     }
  /* FlushCoreAsync: the oldest queued operation becomes the next batch, under the current header */
  :: atomic {
       qn > 0 && un < UMAX && ibn < CAP ->
       f = MK(F_BATCH, iInc, iPeerEp, iNextSeq, q[0]);
       printf("I: sends batch %d (stream %d, epoch %d): %e ro-%d (%d receipts)\n", iNextSeq, iInc, iPeerEp, OPK(q[0]), OPID(q[0]), OPN(q[0]));
       iNextSeq++;
       i = 0;
       do
       :: i + 1 < qn -> q[i] = q[i+1]; i++
       :: else -> break
       od;
       qn--; q[qn] = 0;
#ifndef BROKEN_RESEND
       u[un] = f; un++;                                         /* kept until acknowledged */
#endif
       put(TO_E, f);
       i = 0; f = 0
     }
#ifdef QUIET_TIMERS
  /* the timers: resend the unacknowledged batches, oldest first, and ping while importing */
  :: atomic {
       TIMER && (un > 0 || IMPORTS != 0) ->
       i = 0;
       do
       :: i < un && ibn < CAP -> put(TO_E, u[i]); i++
       :: else -> break
       od;
       if
       :: IMPORTS != 0 && ibn < CAP -> put(TO_E, MK(F_PING, iInc, iPeerEp, 0, 0))
       :: else -> skip
       fi;
       i = 0
     }
#else
  /* the retransmission timer resends an unacknowledged batch (not one whose copy is still in flight:
     the wire's duplications make those) */
  :: atomic {
       if
       :: ibn < CAP && un > 0 && !IN_TO_E(u[0]) -> i = 0
       :: ibn < CAP && un > 1 && !IN_TO_E(u[1]) -> i = 1
       :: ibn < CAP && un > 2 && !IN_TO_E(u[2]) -> i = 2
       fi;
       put(TO_E, u[i]);
       i = 0
     }
  /* the ping timer, while importing (CheckLeaseCoreAsync, SendPingAsync); one ping at a time */
  :: atomic {
       IMPORTS != 0 && ibn < CAP && !KIND_IN(TO_E, F_PING) && !KIND_IN(TO_I, F_PONG) ->
       put(TO_E, MK(F_PING, iInc, iPeerEp, 0, 0))
     }
#endif
#ifdef LIVENESS
  /* the workload stops: E sends no more, and I drops and retires everything it holds */
  :: atomic { !quit -> quit = true }
#endif
  /* ResetAsync: I restarts without its memory, with a new incarnation and stream, and greets E */
  :: atomic {
       iInc <= RESTARTS ->
       iInc++;
       printf("I: restarts as incarnation %d\n", iInc);
       imp[1] = 0; imp[2] = 0; imp[3] = 0;
       do
       :: qn > 0 -> qn--; q[qn] = 0
       :: else -> break
       od;
       do
       :: un > 0 -> un--; u[un] = 0
       :: else -> break
       od;
       iNextSeq = 1;
       if
       :: ibn < CAP -> put(TO_E, MK(F_PING, iInc, iPeerEp, 0, 0))
       :: else -> skip                                          /* the greeting is lost */
       fi
     }
  /* the wire towards I loses or duplicates a frame */
  :: atomic { PICK(TO_I, i, LOSE); take(TO_I, i, f); faults++; printf("wire: %e a %e frame to I (a=%d b=%d c=%d)\n", loses, FK(f) + 5, FA(f), FB(f), FC(f)); i = 0; f = 0 }
  :: atomic {
       PICK(TO_I, i, DUP_TO_I); f = w[TO_I*CAP + i]; put(TO_I, f); faults++;
       printf("wire: %e a %e frame to I (a=%d b=%d c=%d)\n", duplicates, FK(f) + 5, FA(f), FB(f), FC(f));
       i = 0; f = 0
     }
  od
}

/* ---- properties ------------------------------------------------------------------------------------ */
#if !defined(LIVENESS) && !(defined(NO_S1) && defined(BROKEN))
active proctype Monitor() {
end:
  do
#ifndef NO_S1
  :: atomic {
       S1_VIOLATED ->
       printf("S1 violated: I holds a ref of epoch %d that E no longer counts\n", eEp);
       s1_premature_release = true; assert(!s1_premature_release)
     }
#endif
#ifndef BROKEN
  :: atomic { v_operation_refused -> assert(!v_operation_refused) }
#endif
  od
}
#endif
#ifdef LIVENESS
#define reclaimed (wid[0] == 0 && wid[1] == 0)
ltl reclaim { [] (quit -> <> reclaimed) }
#endif
