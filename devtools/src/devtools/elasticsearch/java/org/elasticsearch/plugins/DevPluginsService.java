package org.elasticsearch.plugins;

import org.elasticsearch.Version;
import org.elasticsearch.common.settings.Settings;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A plugins service that serves plugins already on the classpath instead of scanning
 * {@code <home>/modules} and {@code <home>/plugins}: the dev node has no distribution layout,
 * only the jars Maven fetched. It sits in this package because {@code LoadedPlugin},
 * {@code loadPlugin} and {@code plugins()} are package-private or protected.
 */
public final class DevPluginsService extends PluginsService {
    private final List<LoadedPlugin> loaded;

    public DevPluginsService(Settings settings, Path configDir, List<Class<? extends Plugin>> pluginClasses) {
        // The parent constructor loads nothing from an empty loader; our plugins come below.
        super(settings, configDir, emptyLoader());
        List<LoadedPlugin> list = new ArrayList<>();
        ClassLoader classLoader = DevPluginsService.class.getClassLoader();
        for (Class<? extends Plugin> pluginClass : pluginClasses) {
            list.add(new LoadedPlugin(describe(pluginClass), loadPlugin(pluginClass, settings, configDir), classLoader));
        }
        this.loaded = List.copyOf(list);
    }

    /** An empty loader: no module or plugin bundles on disk. */
    public static PluginsLoader emptyLoader() {
        return PluginsLoader.createPluginsLoader(Set.of(), Set.of(), Map.of(), false);
    }

    /** The descriptor a classpath plugin would have had in its plugin-descriptor.properties. */
    private static PluginDescriptor describe(Class<? extends Plugin> pluginClass) {
        return new PluginDescriptor(
            pluginClass.getName(),
            "classpath plugin of the storefront dev node",
            "NA",
            Version.CURRENT.toString(),
            Integer.toString(Runtime.version().feature()),
            pluginClass.getName(),
            null,
            List.of(),
            false,
            false,
            false,
            false,
            PluginDescriptor.DeploymentTarget.ALL
        );
    }

    @Override
    protected List<LoadedPlugin> plugins() {
        return loaded;
    }
}
