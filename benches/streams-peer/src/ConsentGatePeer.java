// The consent gate written as a Kafka Streams application, for scripts/bench-e2e to run on
// the same pre-loaded topic as the worker and the passthrough (BENCHMARKS.md). It does what
// a Kafka Streams user would write for the core of this job, and nothing more: consent and
// profile as global tables; each event parsed with Jackson; the event id replaced by its
// HMAC-SHA256 under the pseudonym key; the query string cut from `url` and `referrer`; an
// event whose user granted `analytics` also gives a personal record (the event with the
// user's profile), every parsable event an anonymous record without the user, anonymous,
// device and session ids and the IP; input that does not parse goes to the dead-letter
// topic. What it does NOT do (the worker does): scrub identifiers from free text and
// properties, geolocate the IP, resolve the time zone, parse the user agent, validate the
// schema or refuse duplicate keys, honour erasure, fence on a stale consent view, bound
// withdrawals at commit, write audit records. It is benchmark tooling, never shipped.
//
// Usage: java -cp '<libs>/*:<classes>' ConsentGatePeer --bootstrap H:P --app-id ID
//   --guarantee exactly_once_v2|at_least_once --raw T --consent T --profile T
//   --anonymous T --personal T --dead-letter T --state-dir DIR --ready-file FILE
// The pseudonym key comes from CONSENT_ENRICHER__PSEUDONYM__KEY, as for the worker.

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.GlobalKTable;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Produced;

public final class ConsentGatePeer {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String[] IDENTIFIERS = {
        "user_id", "anonymous_id", "device_id", "session_id", "ip"
    };
    private static final byte[] DEAD = "{\"error\":\"invalid_json\"}".getBytes(StandardCharsets.UTF_8);

    /** A parsed event and its user's consent (granted: analytics is true). */
    private record Gated(ObjectNode event, String userId, boolean granted) {}

    /** What one event gives: the anonymous record and, when granted, the personal one. */
    private record Out(byte[] key, byte[] anonymous, byte[] personalKey, byte[] personal) {}

    public static void main(String[] argv) throws Exception {
        Map<String, String> a = args(argv);
        String key = System.getenv("CONSENT_ENRICHER__PSEUDONYM__KEY");
        if (key == null || key.isEmpty()) {
            throw new IllegalArgumentException("CONSENT_ENRICHER__PSEUDONYM__KEY is required");
        }
        ThreadLocal<Mac> mac = ThreadLocal.withInitial(() -> hmac(key));

        StreamsBuilder b = new StreamsBuilder();
        Consumed<String, byte[]> table = Consumed.with(Serdes.String(), Serdes.ByteArray());
        GlobalKTable<String, byte[]> consent = b.globalTable(a.get("consent"), table);
        GlobalKTable<String, byte[]> profile = b.globalTable(a.get("profile"), table);
        KStream<byte[], byte[]> raw =
            b.stream(a.get("raw"), Consumed.with(Serdes.ByteArray(), Serdes.ByteArray()));

        KStream<byte[], ObjectNode> parsed = raw.mapValues(ConsentGatePeer::parse);
        Produced<byte[], byte[]> bytes = Produced.with(Serdes.ByteArray(), Serdes.ByteArray());
        parsed.filter((k, v) -> v == null).mapValues(v -> DEAD).to(a.get("dead-letter"), bytes);

        KStream<byte[], Out> out = parsed
            .filter((k, v) -> v != null)
            .leftJoin(consent, (k, v) -> text(v, "user_id"),
                (v, c) -> new Gated(v, text(v, "user_id"), granted(c)))
            .leftJoin(profile, (k, g) -> g.granted() ? g.userId() : null,
                (g, p) -> outputs(g, p, mac.get()));
        out.map((k, o) -> org.apache.kafka.streams.KeyValue.pair(o.key(), o.anonymous()))
            .to(a.get("anonymous"), bytes);
        out.filter((k, o) -> o.personal() != null)
            .map((k, o) -> org.apache.kafka.streams.KeyValue.pair(o.personalKey(), o.personal()))
            .to(a.get("personal"), bytes);

        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, a.get("app-id"));
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, a.get("bootstrap"));
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, a.get("guarantee"));
        p.put(StreamsConfig.STATE_DIR_CONFIG, a.get("state-dir"));
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        KafkaStreams streams = new KafkaStreams(b.build(), p);
        Path ready = Path.of(a.get("ready-file"));
        streams.setStateListener((now, before) -> {
            if (now == KafkaStreams.State.RUNNING) {
                try {
                    Files.writeString(ready, "running\n");
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }
        });
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            streams.close(Duration.ofSeconds(30));
            stopped.countDown();
        }));
        streams.start();
        stopped.await();
    }

    private static ObjectNode parse(byte[] v) {
        try {
            JsonNode n = v == null ? null : JSON.readTree(v);
            if (n instanceof ObjectNode o && o.path("event_id").isTextual()) {
                return o;
            }
        } catch (java.io.IOException e) {
            // Not JSON: a dead letter.
        }
        return null;
    }

    private static boolean granted(byte[] consent) {
        if (consent == null) {
            return false;
        }
        try {
            return JSON.readTree(consent).path("purposes").path("analytics").asBoolean(false);
        } catch (java.io.IOException e) {
            return false; // unreadable consent: fail closed
        }
    }

    private static Out outputs(Gated g, byte[] profile, Mac mac) {
        ObjectNode e = g.event();
        String id = HexFormat.of().formatHex(
            mac.doFinal(e.path("event_id").asText().getBytes(StandardCharsets.UTF_8)));
        e.put("event_id", id);
        cut(e, "url");
        cut(e, "referrer");
        byte[] personal = null;
        if (g.granted()) {
            ObjectNode rec = e.deepCopy();
            if (profile != null) {
                try {
                    rec.set("profile", JSON.readTree(profile));
                } catch (java.io.IOException ignored) {
                    // An unreadable profile: the record goes without it.
                }
            }
            personal = write(rec);
        }
        for (String f : IDENTIFIERS) {
            e.remove(f);
        }
        byte[] idBytes = id.getBytes(StandardCharsets.UTF_8);
        byte[] userKey = g.granted() ? g.userId().getBytes(StandardCharsets.UTF_8) : null;
        return new Out(idBytes, write(e), userKey, personal);
    }

    private static void cut(ObjectNode e, String field) {
        JsonNode v = e.get(field);
        if (v != null && v.isTextual()) {
            String s = v.asText();
            int q = s.indexOf('?');
            if (q >= 0) {
                e.put(field, s.substring(0, q));
            }
        }
    }

    private static String text(JsonNode n, String field) {
        JsonNode v = n.get(field);
        return v != null && v.isTextual() ? v.asText() : null;
    }

    private static byte[] write(JsonNode n) {
        try {
            return JSON.writeValueAsBytes(n);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private static Mac hmac(String key) {
        try {
            Mac m = Mac.getInstance("HmacSHA256");
            m.init(new SecretKeySpec(key.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
            return m;
        } catch (java.security.GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    private static Map<String, String> args(String[] argv) {
        Map<String, String> a = new HashMap<>();
        for (int i = 0; i + 1 < argv.length; i += 2) {
            if (!argv[i].startsWith("--")) {
                throw new IllegalArgumentException("expected --name value, got " + argv[i]);
            }
            a.put(argv[i].substring(2), argv[i + 1]);
        }
        for (String k : new String[] {"bootstrap", "app-id", "guarantee", "raw", "consent",
                "profile", "anonymous", "personal", "dead-letter", "state-dir", "ready-file"}) {
            if (!a.containsKey(k)) {
                throw new IllegalArgumentException("--" + k + " is required");
            }
        }
        return a;
    }
}
