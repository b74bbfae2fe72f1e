package io.github.ssrencoder.cli;

import io.github.ssrencoder.io.WeightFileException;
import io.github.ssrencoder.pipeline.CancelledException;
import java.io.PrintWriter;
import java.util.Map;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The headless command line ({@code scripts/ssr}): batches on a cluster and reproduction of reference runs.
 * Exit code 0 on success, 2 on bad input with a one-line reason on stderr, 1 on internal failure.
 */
@Command(name = "ssr", mixinStandardHelpOptions = true, version = "ssr-encoder-fiji 0.1.0",
        description = "SSR-Encoder subject-driven generation on Stable Diffusion 1.5 (DJL, no Python).",
        subcommands = {GenerateCommand.class, TrainCommand.class})
public final class SsrCli implements Runnable {

    /** Exit code for bad input. */
    public static final int EXIT_BAD_INPUT = 2;
    /** Exit code for an internal failure. */
    public static final int EXIT_INTERNAL = 1;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /** The environment the commands read (SLURM's variables); tests give each run its own. */
    Map<String, String> env = System.getenv();

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "missing subcommand (try: ssr generate --help)");
    }

    /** Runs the command line and returns the exit code (for tests and the launcher). */
    public static int execute(String[] args, PrintWriter out, PrintWriter err) {
        return execute(args, out, err, System.getenv());
    }

    /** As above, with {@code env} in place of the process environment. */
    public static int execute(String[] args, PrintWriter out, PrintWriter err, Map<String, String> env) {
        SsrCli cli = new SsrCli();
        cli.env = Map.copyOf(env);
        CommandLine cl = new CommandLine(cli);
        cl.setOut(out);
        cl.setErr(err);
        cl.setParameterExceptionHandler((ex, a) -> {
            err.println("ssr: " + ex.getMessage());
            err.flush();
            return EXIT_BAD_INPUT;
        });
        cl.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
            if (ex instanceof IllegalArgumentException || ex instanceof WeightFileException) {
                err.println("ssr: " + oneLine(ex.getMessage()));
                err.flush();
                return EXIT_BAD_INPUT;
            }
            if (ex instanceof CancelledException) {
                err.println("ssr: cancelled");
                err.flush();
                return EXIT_INTERNAL;
            }
            err.println("ssr: internal error: " + oneLine(String.valueOf(ex)));
            if (Boolean.getBoolean("ssr.debug")) {
                ex.printStackTrace(err);
            }
            err.flush();
            return EXIT_INTERNAL;
        });
        return cl.execute(args);
    }

    private static String oneLine(String s) {
        return s == null ? "" : s.replace('\n', ' ');
    }

    public static void main(String[] args) {
        PrintWriter out = new PrintWriter(System.out, true);
        PrintWriter err = new PrintWriter(System.err, true);
        System.exit(execute(args, out, err));
    }
}
