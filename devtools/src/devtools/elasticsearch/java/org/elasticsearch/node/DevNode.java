package org.elasticsearch.node;

import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.plugins.DevPluginsService;
import org.elasticsearch.plugins.PluginsLoader;
import org.elasticsearch.plugins.PluginsService;
import org.elasticsearch.transport.netty4.Netty4Plugin;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Elasticsearch node for development and tests, run from the Maven Central jars
 * (server core + netty4 transport and HTTP) without a distribution: a single node by default,
 * or one node of a cluster. Lives in this package because
 * {@code NodeConstruction}, {@code NodeServiceProvider} and the {@code Node(NodeConstruction)}
 * constructor are package-private.
 *
 * <p>Usage: {@code java ... org.elasticsearch.node.DevNode <absolute home> <http port>}
 * (or {@code -Ddevnode.home=... -Ddevnode.port=...}), each {@code -Ddevnode.setting.<key>=<value>}
 * adding or replacing a setting (node.py sets the node name, transport port and discovery that way).
 * Runs until SIGTERM, then closes the node so that the data directory is left consistent.
 */
public final class DevNode extends Node {
    private static final String SETTING_PREFIX = "devnode.setting.";

    private DevNode(Settings settings) {
        super(NodeConstruction.prepareConstruction(
            new Environment(settings, null),
            DevPluginsService.emptyLoader(),
            new ClasspathPlugins(settings),
            true));
    }

    /** Hands the node our classpath plugins instead of scanning home/modules and home/plugins. */
    private static final class ClasspathPlugins extends NodeServiceProvider {
        private final Settings settings;

        ClasspathPlugins(Settings settings) {
            this.settings = settings;
        }

        @Override
        PluginsService newPluginService(Environment environment, PluginsLoader loader) {
            return new DevPluginsService(settings, environment.configDir(), List.of(Netty4Plugin.class));
        }
    }

    public static void main(String[] args) throws Exception {
        Path home = Path.of(arg(args, 0, "devnode.home", null)).toAbsolutePath().normalize();
        int port = Integer.parseInt(arg(args, 1, "devnode.port", "9200"));
        Files.createDirectories(home.resolve("config"));

        // Installs ES's log4j plugins/levels; the appenders come from -Dlog4j2.configurationFile.
        LogConfigurator.configureESLogging();

        Settings.Builder settings = Settings.builder()
            .put("path.home", home.toString())
            .put("path.data", home.resolve("data").toString())
            .put("path.logs", home.resolve("logs").toString())
            .put("cluster.name", "storefront-dev")
            .put("node.name", "dev")
            .put("network.host", "127.0.0.1")
            .put("http.port", port)
            .put("discovery.type", "single-node")
            // Dev disks are often nearly full; do not refuse to allocate shards because of that.
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            // Tests delete indices by wildcard.
            .put("action.destructive_requires_name", false);
        for (String key : System.getProperties().stringPropertyNames()) {
            if (key.startsWith(SETTING_PREFIX)) {
                settings.put(key.substring(SETTING_PREFIX.length()), System.getProperty(key));
            }
        }

        DevNode node = new DevNode(settings.build());
        CountDownLatch closed = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> closeQuietly(node, closed), "dev-node-shutdown"));
        node.start();
        System.out.println("dev node started: http://127.0.0.1:" + port);
        closed.await(); // the node's threads keep running; main waits for SIGTERM's close
    }

    /** Closes the node on SIGTERM/SIGINT so Lucene and the cluster state are flushed. */
    private static void closeQuietly(DevNode node, CountDownLatch closed) {
        try {
            node.close();
            node.awaitClose(20, TimeUnit.SECONDS);
        } catch (Exception e) {
            e.printStackTrace();
        } finally {
            closed.countDown();
        }
    }

    /** Positional argument, else system property, else default; fails clearly if none. */
    private static String arg(String[] args, int index, String property, String fallback) {
        if (args.length > index) {
            return args[index];
        }
        String value = System.getProperty(property, fallback);
        if (value == null) {
            throw new IllegalArgumentException("usage: DevNode <absolute home dir> [http port] (or -D" + property + "=...)");
        }
        return value;
    }
}
