package io.github.ssrencoder.imagej;

import io.github.ssrencoder.testing.Golden;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicInteger;
import org.scijava.Context;
import org.scijava.app.StatusService;
import org.scijava.command.Command;
import org.scijava.command.CommandModule;
import org.scijava.command.CommandService;
import org.scijava.prefs.PrefService;

/**
 * A headless SciJava context with the SSR service on a {@link FakeGenerator}, the tiny-a models folder in
 * the settings, and preferences kept in a temporary folder instead of the user's.
 */
public final class SsrTestContext implements AutoCloseable {

    static {
        try {
            String prefs = Files.createTempDirectory("ssr-prefs").toString();
            System.setProperty("java.util.prefs.userRoot", prefs);
            System.setProperty("java.util.prefs.systemRoot", prefs);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public final Context context;
    public final SsrService service;
    final CommandService commands;
    public final FakeGenerator fake = new FakeGenerator();
    final AtomicInteger opened = new AtomicInteger();

    public SsrTestContext() {
        context = new Context(CommandService.class, PrefService.class, SsrService.class, StatusService.class);
        service = context.service(SsrService.class);
        commands = context.service(CommandService.class);
        context.service(PrefService.class).clear(SsrService.class);
        service.setGeneratorFactory((root, settings) -> {
            opened.incrementAndGet();
            return fake;
        });
        service.saveSettings(SsrSettings.defaults().withModels(Golden.tinyA()));
    }

    /** Runs {@code command} with pre- and post-processing, as Fiji and scripts do. */
    CommandModule run(Class<? extends Command> command, Object... inputs) {
        try {
            return commands.run(command, true, inputs).get();
        } catch (InterruptedException | ExecutionException e) {
            throw new AssertionError(e);
        }
    }

    @Override
    public void close() {
        context.dispose();
    }
}
