package io.github.ssrencoder.imagej;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.scijava.command.CommandInfo;
import org.scijava.command.CommandService;
import org.scijava.module.ModuleItem;

/**
 * The menu has one entry per command: {@code plugins.config} registers them (read by ImageJ 1.x and by Fiji),
 * the SciJava commands register none, and both sides use the same names and keys.
 */
class MenuEntriesTest {

    private static final Pattern ENTRY = Pattern.compile(
            "^Plugins>SSR-Encoder, \"([^\"]+)\", io\\.github\\.ssrencoder\\.imagej\\.ij1\\.SsrIj1Plugin\\(\"(\\w+)\"\\)$");

    private final SsrTestContext ctx = new SsrTestContext();

    @AfterEach
    void close() {
        ctx.close();
    }

    private static List<String[]> pluginsConfigEntries() throws IOException {
        List<String[]> entries = new ArrayList<>();
        try (InputStream in = MenuEntriesTest.class.getResourceAsStream("/plugins.config")) {
            String text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            for (String line : text.split("\n")) {
                if (line.isBlank() || line.startsWith("#")) {
                    continue;
                }
                Matcher m = ENTRY.matcher(line.strip());
                assertTrue(m.matches(), "unexpected plugins.config line: " + line);
                entries.add(new String[] {m.group(1), m.group(2)});
            }
        }
        return entries;
    }

    private List<CommandInfo> ssrCommands() {
        return ctx.context.service(CommandService.class).getCommands().stream()
                .filter(c -> c.getClassName().startsWith("io.github.ssrencoder.")).collect(Collectors.toList());
    }

    @Test
    void sciJavaCommandsRegisterNoMenuEntry() {
        List<CommandInfo> commands = ssrCommands();
        assertEquals(6, commands.size(), commands.toString());
        for (CommandInfo c : commands) {
            assertTrue(c.getMenuPath() == null || c.getMenuPath().isEmpty(),
                    c.getClassName() + " has the menu path " + c.getMenuPath() + ": the entry would show twice in Fiji");
        }
    }

    @Test
    void pluginsConfigHasEachCommandOnceUnderTheSciJavaCommandsNames() throws IOException {
        List<String[]> entries = pluginsConfigEntries();
        Set<String> titles = entries.stream().map(e -> e[0]).collect(Collectors.toCollection(TreeSet::new));
        Set<String> args = entries.stream().map(e -> e[1]).collect(Collectors.toCollection(TreeSet::new));
        assertEquals(entries.size(), titles.size(), "a title appears twice");
        assertEquals(Set.of("generate", "multi", "attention", "train", "settings", "unload"), args);
        Set<String> labels = ssrCommands().stream().map(CommandInfo::getLabel).collect(Collectors.toCollection(TreeSet::new));
        assertEquals(labels, titles, "the SciJava commands carry the menu entries' names");
    }

    @Test
    void sciJavaParameterNamesAreTheMacroKeys() {
        Set<String> macroKeys = Set.of("query", "prompt", "negative_prompt", "scale", "guidance", "steps", "scheduler",
                "width", "height", "seed", "images", "use_roi", "mask_weight", "framing", "models", "queries", "scales",
                "overlay", "device", "threads", "libtorch", "lora", "checkpoint", "ema", "control", "controlnet", "control_scale",
                "control_start", "control_end", "cache_interval", "frames", "motion_adapter", "frame_interval", "low_memory",
                "data", "output", "batch", "lr", "resolution", "save_every", "resume", "restart_optimizer", "plot",
                "gradient_checkpointing");
        for (CommandInfo c : ssrCommands()) {
            for (ModuleItem<?> item : c.inputs()) {
                String name = item.getName();
                if (item.getVisibility() == org.scijava.ItemVisibility.NORMAL && !item.getType().getName().startsWith("org.scijava")
                        && !item.getType().getName().startsWith("io.github") && !name.equals("input") && !name.equals("imp")) {
                    assertTrue(macroKeys.contains(name), c.getLabel() + ": parameter '" + name + "' is not a documented macro key");
                }
            }
        }
    }
}
