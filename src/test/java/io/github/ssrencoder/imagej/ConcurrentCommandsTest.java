package io.github.ssrencoder.imagej;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ij.ImagePlus;
import io.github.ssrencoder.pipeline.CancelledException;
import io.github.ssrencoder.pipeline.GenerationRequest;
import io.github.ssrencoder.pipeline.ProgressListener;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.scijava.command.CommandModule;
import org.scijava.event.EventService;

/**
 * Two Fiji commands started together share the one set of loaded models: the second waits, says so in the status
 * bar, and runs when the first is done; each gets its own result. A run cancelled while it waits never starts.
 */
class ConcurrentCommandsTest {

    private final SsrTestContext ctx = new SsrTestContext();
    private final CountDownLatch firstInside = new CountDownLatch(1);
    private final CountDownLatch releaseFirst = new CountDownLatch(1);

    @AfterEach
    void close() {
        releaseFirst.countDown();
        ctx.close();
    }

    /** The first generation stops at its first step until the test releases it. */
    private void holdFirstRun() {
        AtomicBoolean first = new AtomicBoolean(true);
        ctx.fake.hookAtStep = 1;
        ctx.fake.beforeStep = () -> {
            if (first.getAndSet(false)) {
                firstInside.countDown();
                try {
                    assertTrue(releaseFirst.await(30, TimeUnit.SECONDS));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        };
    }

    private Future<CommandModule> start(Class<? extends org.scijava.command.Command> command, long seed) {
        return ctx.commands.run(command, true, "input", GenerateFromSubjectCommandTest.reference(16, 16), "query", "red disc",
                "prompt", "seed " + seed, "steps", 3, "scheduler", "ddim", "width", 16, "height", 16, "seed", seed,
                "images", 1, "use_roi", false, "models", "");
    }

    private static void await(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what);
            }
            Thread.sleep(10);
        }
    }

    @Test
    void secondCommandWaitsSaysSoAndThenRuns() throws Exception {
        holdFirstRun();
        GenerateFromSubjectCommandTest.StatusRecorder status = new GenerateFromSubjectCommandTest.StatusRecorder();
        ctx.context.service(EventService.class).subscribe(status);
        Future<CommandModule> a = start(GenerateFromSubjectCommand.class, 11);
        assertTrue(firstInside.await(20, TimeUnit.SECONDS), "first run started");
        Future<CommandModule> b = start(GenerateFromSubjectCommand.class, 22);
        await(() -> status.messages.contains("SSR: " + SsrService.WAITING), "the second run's waiting message");
        assertEquals(1, ctx.fake.requests.size(), "the second run has not reached the models");
        assertFalse(b.isDone());

        releaseFirst.countDown();
        CommandModule first = a.get(30, TimeUnit.SECONDS);
        CommandModule second = b.get(30, TimeUnit.SECONDS);
        assertFalse(first.isCanceled(), first.getCancelReason());
        assertFalse(second.isCanceled(), second.getCancelReason());
        assertEquals(1, ctx.fake.maxRunning.get(), "never two generations at once");
        assertEquals(List.of(11L, 22L), ctx.fake.requests.stream().map(GenerationRequest::seed).toList());
        assertEquals("11", ((ImagePlus) first.getOutput("result")).getProp("seed"));
        assertEquals("22", ((ImagePlus) second.getOutput("result")).getProp("seed"));
        assertEquals(1, ctx.opened.get(), "both runs used the same loaded models");
    }

    @Test
    void unloadDuringARunWaitsForIt() throws Exception {
        holdFirstRun();
        Future<CommandModule> a = start(GenerateFromSubjectCommand.class, 5);
        assertTrue(firstInside.await(20, TimeUnit.SECONDS));
        List<String> stages = new CopyOnWriteArrayList<>();
        CompletableFuture<Boolean> unload = CompletableFuture.supplyAsync(() -> ctx.service.unload(new ProgressListener() {
            @Override
            public void stage(String message) {
                stages.add(message);
            }
        }));
        await(() -> stages.contains(SsrService.WAITING), "the unload's waiting message");
        assertEquals(0, ctx.fake.closed.get(), "models stay loaded while they generate");
        releaseFirst.countDown();
        assertFalse(a.get(30, TimeUnit.SECONDS).isCanceled());
        assertTrue(unload.get(30, TimeUnit.SECONDS), "models were loaded, then unloaded");
        assertEquals(1, ctx.fake.closed.get());
    }

    @Test
    void runCancelledWhileWaitingNeverStarts() throws Exception {
        holdFirstRun();
        Future<CommandModule> a = start(GenerateFromSubjectCommand.class, 5);
        assertTrue(firstInside.await(20, TimeUnit.SECONDS));
        Path models = ctx.service.modelsFor("");
        AtomicBoolean cancelled = new AtomicBoolean();
        List<String> stages = new CopyOnWriteArrayList<>();
        ProgressListener waiting = new ProgressListener() {
            @Override
            public void stage(String message) {
                stages.add(message);
            }

            @Override
            public boolean isCancelled() {
                return cancelled.get();
            }
        };
        AtomicBoolean ran = new AtomicBoolean();
        CompletableFuture<Object> b = CompletableFuture.supplyAsync(() -> ctx.service.withGenerator(models, waiting, g -> {
            ran.set(true);
            return null;
        }));
        await(() -> stages.contains(SsrService.WAITING), "the waiting message");
        cancelled.set(true);
        java.util.concurrent.ExecutionException e = assertThrows(java.util.concurrent.ExecutionException.class,
                () -> b.get(10, TimeUnit.SECONDS), "a cancel ends the wait without waiting for the first run");
        assertTrue(e.getCause() instanceof CancelledException, String.valueOf(e.getCause()));
        assertFalse(ran.get());
        releaseFirst.countDown();
        assertFalse(a.get(30, TimeUnit.SECONDS).isCanceled());
        assertEquals(1, ctx.fake.requests.size());
        assertEquals("after", ctx.service.withGenerator(models, g -> "after"), "the lock is free again");
    }
}
