import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.PrintStream;
import java.lang.reflect.Field;
import java.nio.charset.StandardCharsets;
import java.rmi.Remote;
import java.rmi.RemoteException;
import java.rmi.server.UnicastRemoteObject;
import java.rmi.server.Unreferenced;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The Java RMI distributed GC, measured the way the ocap-dgc benchmark measures its own DGC: a server
 * exports fresh remote objects and returns them to a client in arrays (one RMI call per "message"); the
 * client's RMI runtime registers them with dirty calls; the client drops them (clean calls once its local
 * GC finds the stubs unreachable), or dies (the server's leases lapse). The server counts
 * {@link Unreferenced#unreferenced()} callbacks: an object is reclaimed, from the server's point of
 * view, when RMI tells it no client holds it any more.
 *
 * <p>Modes (the first argument):
 * <ul>
 *   <li>{@code drop --refs N --batch B --in-flight F --rounds R --warmups W}: this process is the server; it starts a
 *       client process, which imports N refs (N/B calls returning B refs each, F calls in flight), then
 *       drops them all and runs its GC. Prints the import and reclaim times of each round (after W
 *       untimed warm-up rounds of the same N refs, as the benchmark's own items 1-3 have).</li>
 *   <li>{@code crash --refs N --batch B --in-flight F}: the client imports N refs and is killed
 *       (SIGKILL); prints the time until the server saw every one unreferenced.</li>
 *   <li>{@code client}: the client process, driven by the server over its standard input.</li>
 * </ul>
 *
 * <p>Results go to standard output as lines {@code rmi <key> <value>}; progress as lines starting with
 * {@code [rmi]}; a failure as {@code rmi-error <message>} and exit code 1. The lease
 * ({@code java.rmi.dgc.leaseValue}), the DGC filter ({@code sun.rmi.transport.dgcFilter}) and everything
 * else are set by whoever starts this program, as system properties.
 */
public final class RmiDgcPeer {
    /** What the server exports to the client: fresh remote objects, a batch per call. */
    public interface Factory extends Remote {
        /** Exports {@code count} new objects and returns their stubs. */
        Item[] make(int count) throws RemoteException;
    }

    /** A remote object that does nothing: its reference is what is measured. */
    public interface Item extends Remote {
        /** Does nothing (present so the interface is not empty). */
        void touch() throws RemoteException;
    }

    private static final AtomicLong RECLAIMED = new AtomicLong();
    private static final AtomicLong EXPORTED = new AtomicLong();

    /** The server keeps every object it exported, so only RMI's reference counts decide "unreferenced". */
    private static final ConcurrentLinkedQueue<Item> KEEP = new ConcurrentLinkedQueue<>();

    private static final class ItemImpl implements Item, Unreferenced {
        @Override
        public void touch() {
            // nothing
        }

        @Override
        public void unreferenced() {
            RECLAIMED.incrementAndGet();
        }
    }

    private static final class FactoryImpl implements Factory {
        @Override
        public Item[] make(int count) throws RemoteException {
            Item[] stubs = new Item[count];
            for (int i = 0; i < count; i++) {
                ItemImpl impl = new ItemImpl();
                KEEP.add(impl);
                stubs[i] = (Item) UnicastRemoteObject.exportObject(impl, 0);
            }

            EXPORTED.addAndGet(count);
            return stubs;
        }
    }

    private RmiDgcPeer() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length == 0) {
            usage();
            return;
        }

        try {
            switch (args[0]) {
                case "drop" -> drop(Options.parse(args));
                case "crash" -> crash(Options.parse(args));
                case "client" -> client();
                default -> usage();
            }
        } catch (Failure e) {
            System.out.println("rmi-error " + e.getMessage());
            System.out.flush();
            System.exit(1);
        }

        System.out.flush();
        System.exit(0);
    }

    private static void usage() {
        System.out.println("usage: java RmiDgcPeer drop|crash --refs N --batch B --in-flight F [--rounds R] [--warmups W] | client");
        System.exit(2);
    }

    /** A measurement that could not be made; the message says why. */
    private static final class Failure extends Exception {
        private static final long serialVersionUID = 1L;

        Failure(String message) {
            super(message);
        }
    }

    private record Options(int refs, int batch, int inFlight, int rounds, int warmups) {
        static Options parse(String[] args) throws Failure {
            int refs = 10_000;
            int batch = 500;
            int inFlight = 4;
            int rounds = 1;
            int warmups = 1;
            for (int i = 1; i < args.length; i++) {
                String name = args[i];
                if (i + 1 >= args.length) {
                    throw new Failure(name + " needs a value");
                }

                int value;
                try {
                    value = Integer.parseInt(args[++i]);
                } catch (NumberFormatException e) {
                    throw new Failure(name + " needs a whole number");
                }

                if (value < 1) {
                    throw new Failure(name + " must be at least 1");
                }

                switch (name) {
                    case "--refs" -> refs = value;
                    case "--batch" -> batch = value;
                    case "--in-flight" -> inFlight = value;
                    case "--rounds" -> rounds = value;
                    case "--warmups" -> warmups = value;
                    default -> throw new Failure("unknown option " + name);
                }
            }

            return new Options(refs, batch, inFlight, rounds, warmups);
        }
    }

    // ---------------------------------------------------------------- server side

    /** Import N, drop them all, after the warm-up rounds; each round's times. */
    private static void drop(Options o) throws Exception {
        describeSettings();
        Factory stub = (Factory) UnicastRemoteObject.exportObject(new FactoryImpl(), 0);
        try (Client client = Client.start(stub)) {
            for (int w = 1; w <= o.warmups(); w++) {
                double[] t = round(client, o.refs(), o, Math.max(300_000, o.refs() * 2L));
                log(String.format("warm-up %d/%d: %d refs imported in %.3f s and dropped (untimed)", w, o.warmups(), o.refs(), t[0]));
            }

            List<double[]> rounds = new ArrayList<>();
            for (int r = 1; r <= o.rounds(); r++) {
                double[] t = round(client, o.refs(), o, Math.max(300_000, o.refs() * 2L));
                log(String.format("round %d/%d: %d refs imported in %.3f s, dropped -> all unreferenced in %.3f s",
                    r, o.rounds(), o.refs(), t[0], t[1]));
                rounds.add(t);
                System.out.println("rmi import_seconds_round_" + r + " " + t[0]);
                System.out.println("rmi reclaim_seconds_round_" + r + " " + t[1]);
            }

            System.out.println("rmi refs " + o.refs());
            System.out.println("rmi import_seconds " + median(rounds, 0));
            System.out.println("rmi reclaim_seconds " + median(rounds, 1));
        }
    }

    /** One round: the client imports {@code refs}, then drops them; returns {import s, reclaim s}. */
    private static double[] round(Client client, int refs, Options o, long timeoutMs) throws Exception {
        long reclaimedBefore = RECLAIMED.get();
        long exportedBefore = EXPORTED.get();
        double importSeconds = client.importRefs(refs, o.batch(), o.inFlight(), timeoutMs);
        if (EXPORTED.get() - exportedBefore != refs) {
            throw new Failure("the server exported " + (EXPORTED.get() - exportedBefore) + " objects, expected " + refs);
        }

        long start = System.nanoTime();
        client.send("drop");
        waitForReclaimed(reclaimedBefore + refs, start, timeoutMs, "after the client dropped them");
        double reclaimSeconds = (System.nanoTime() - start) / 1e9;
        client.expect("dropped", 60_000);
        // Nothing more may arrive once the client has let go: the server no longer needs these objects.
        KEEP.clear();
        return new double[] {importSeconds, reclaimSeconds};
    }

    /** Import N, kill the client, time until the server saw every object unreferenced. */
    private static void crash(Options o) throws Exception {
        long[] settings = describeSettings();
        Factory stub = (Factory) UnicastRemoteObject.exportObject(new FactoryImpl(), 0);
        long lease = settings[0] > 0 ? settings[0] : 600_000;
        long check = settings[1] > 0 ? settings[1] : lease / 2;
        long timeoutMs = (3 * lease) + check + 60_000;
        try (Client client = Client.start(stub)) {
            long reclaimedBefore = RECLAIMED.get();
            client.importRefs(o.refs(), o.batch(), o.inFlight(), Math.max(300_000, o.refs() * 2L));
            log("the client holds " + o.refs() + " refs; killing it (SIGKILL)");
            long start = System.nanoTime();
            client.kill();
            waitForReclaimed(reclaimedBefore + o.refs(), start, timeoutMs, "after the client was killed");
            double seconds = (System.nanoTime() - start) / 1e9;
            log(String.format("all %d unreferenced %.3f s after the kill", o.refs(), seconds));
            System.out.println("rmi refs " + o.refs());
            System.out.println("rmi crash_reclaim_seconds " + seconds);
        }
    }

    private static void waitForReclaimed(long target, long startNanos, long timeoutMs, String when) throws Exception {
        long deadline = startNanos + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
        while (RECLAIMED.get() < target) {
            if (System.nanoTime() > deadline) {
                throw new Failure("only " + RECLAIMED.get() + " of " + target + " objects were unreferenced within "
                    + (timeoutMs / 1000) + " s " + when);
            }

            Thread.sleep(1);
        }
    }

    /**
     * Prints the DGC settings this JVM really uses (read from {@code sun.rmi.transport.DGCImpl}, which
     * needs {@code --add-opens java.rmi/sun.rmi.transport=ALL-UNNAMED}; without it, what the properties
     * say). Returns {lease ms, check interval ms}, -1 where unknown.
     */
    private static long[] describeSettings() {
        System.out.println("rmi java_version " + Runtime.version());
        long lease = Long.getLong("java.rmi.dgc.leaseValue", 600_000L);
        long check = Long.getLong("sun.rmi.dgc.checkInterval", lease / 2);
        String source = "system properties";
        try {
            Class<?> dgc = Class.forName("sun.rmi.transport.DGCImpl");
            lease = staticLong(dgc, "leaseValue");
            check = staticLong(dgc, "leaseCheckInterval");
            System.out.println("rmi builtin_max_array " + staticLong(dgc, "DGC_MAX_ARRAY_SIZE"));
            source = "sun.rmi.transport.DGCImpl";
        } catch (ReflectiveOperationException | RuntimeException e) {
            log("could not read sun.rmi.transport.DGCImpl (" + e + "); reporting the system properties");
        }

        System.out.println("rmi settings_source " + source.replace(' ', '_'));
        System.out.println("rmi lease_ms " + lease);
        System.out.println("rmi check_interval_ms " + check);
        String filter = System.getProperty("sun.rmi.transport.dgcFilter");
        log("lease " + lease + " ms, lease check every " + check + " ms (" + source + "), dgcFilter "
            + (filter == null ? "(JDK default)" : filter));
        return new long[] {lease, check};
    }

    private static long staticLong(Class<?> type, String name) throws ReflectiveOperationException {
        Field f = type.getDeclaredField(name);
        f.setAccessible(true);
        return ((Number) f.get(null)).longValue();
    }

    private static double median(List<double[]> rounds, int column) {
        double[] values = rounds.stream().mapToDouble(r -> r[column]).sorted().toArray();
        return values[values.length / 2];
    }

    private static void log(String message) {
        System.out.println("[rmi] " + message);
        System.out.flush();
    }

    /** The client process as the server drives it: commands on its stdin, answers on its stdout. */
    private static final class Client implements AutoCloseable {
        private final Process process;
        private final BufferedReader out;
        private final PrintStream in;

        private Client(Process process) {
            this.process = process;
            this.out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
            this.in = new PrintStream(process.getOutputStream(), true, StandardCharsets.UTF_8);
        }

        static Client start(Factory factory) throws Exception {
            List<String> command = new ArrayList<>();
            command.add(ProcessHandle.current().info().command().orElse("java"));
            // The same lease and host name as this JVM (the client asks for the lease it renews).
            for (String p : new String[] {"java.rmi.dgc.leaseValue", "java.rmi.server.hostname"}) {
                String v = System.getProperty(p);
                if (v != null) {
                    command.add("-D" + p + "=" + v);
                }
            }

            command.addAll(Arrays.asList("-cp", System.getProperty("java.class.path"), RmiDgcPeer.class.getName(), "client"));
            Process p = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
            Client c = new Client(p);
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            try (ObjectOutputStream o = new ObjectOutputStream(bytes)) {
                o.writeObject(factory);
            }

            c.send("factory " + Base64.getEncoder().encodeToString(bytes.toByteArray()));
            c.expect("ready", 60_000);
            return c;
        }

        double importRefs(int refs, int batch, int inFlight, long timeoutMs) throws Exception {
            send("import " + refs + " " + batch + " " + inFlight);
            String answer = expect("imported", timeoutMs);
            String[] parts = answer.split(" ");
            if (parts.length != 3 || Integer.parseInt(parts[1]) != refs) {
                throw new Failure("the client answered '" + answer + "' to an import of " + refs);
            }

            return Double.parseDouble(parts[2]);
        }

        void send(String command) {
            in.println(command);
        }

        /** Waits for the client's next line, which must start with {@code word}; returns it. */
        String expect(String word, long timeoutMs) throws Exception {
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
            while (!out.ready()) {
                if (!process.isAlive() && !out.ready()) {
                    throw new Failure("the client process exited (code " + process.exitValue() + ") while the server waited for '" + word + "'");
                }

                if (System.nanoTime() > deadline) {
                    throw new Failure("the client did not answer '" + word + "' within " + (timeoutMs / 1000) + " s");
                }

                Thread.sleep(1);
            }

            String line = out.readLine();
            if (line == null || !line.startsWith(word)) {
                throw new Failure("the client answered '" + line + "', expected '" + word + "'");
            }

            return line;
        }

        void kill() throws InterruptedException {
            process.destroyForcibly();
            process.waitFor();
        }

        @Override
        public void close() {
            if (process.isAlive()) {
                send("exit");
                try {
                    if (!process.waitFor(10, TimeUnit.SECONDS)) {
                        kill();
                    }
                } catch (InterruptedException e) {
                    process.destroyForcibly();
                    Thread.currentThread().interrupt();
                }
            }
        }
    }

    // ---------------------------------------------------------------- client side

    /** Holds the stubs it imported until told to drop them. */
    private static void client() throws Exception {
        BufferedReader commands = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        Factory factory = null;
        List<Item> held = Collections.synchronizedList(new ArrayList<>());
        String line;
        while ((line = commands.readLine()) != null) {
            String[] c = line.split(" ");
            switch (c[0]) {
                case "factory" -> {
                    try (ObjectInputStream o = new ObjectInputStream(new ByteArrayInputStream(Base64.getDecoder().decode(c[1])))) {
                        factory = (Factory) o.readObject();
                    }

                    answer("ready");
                }
                case "import" -> {
                    int refs = Integer.parseInt(c[1]);
                    int batch = Integer.parseInt(c[2]);
                    int inFlight = Integer.parseInt(c[3]);
                    double seconds = importRefs(factory, held, refs, batch, inFlight);
                    answer("imported " + held.size() + " " + seconds);
                }
                case "drop" -> {
                    held.clear();
                    // The stubs are unreachable now; RMI's client DGC sends clean calls once the GC finds them.
                    System.gc();
                    System.gc();
                    answer("dropped");
                }
                case "exit" -> {
                    return;
                }
                default -> answer("unknown command " + c[0]);
            }
        }
    }

    /** {@code refs} refs in calls of {@code batch}, {@code inFlight} calls at a time; returns the seconds it took. */
    private static double importRefs(Factory factory, List<Item> held, int refs, int batch, int inFlight) throws Exception {
        if (factory == null) {
            throw new IOException("no factory yet");
        }

        int calls = (refs + batch - 1) / batch;
        AtomicInteger next = new AtomicInteger();
        List<Throwable> errors = Collections.synchronizedList(new ArrayList<>());
        Thread[] workers = new Thread[Math.min(inFlight, calls)];
        long start = System.nanoTime();
        for (int w = 0; w < workers.length; w++) {
            workers[w] = new Thread(() -> {
                try {
                    int call;
                    while ((call = next.getAndIncrement()) < calls) {
                        int count = Math.min(batch, refs - (call * batch));
                        // When make() returns, the client's RMI runtime has made the dirty call for these refs.
                        held.addAll(Arrays.asList(factory.make(count)));
                    }
                } catch (RemoteException | RuntimeException e) {
                    errors.add(e);
                }
            });
            workers[w].start();
        }

        for (Thread w : workers) {
            w.join();
        }

        double seconds = (System.nanoTime() - start) / 1e9;
        if (!errors.isEmpty()) {
            throw new IOException("import failed: " + errors.get(0), errors.get(0));
        }

        return seconds;
    }

    private static void answer(String line) {
        System.out.println(line);
        System.out.flush();
    }
}
