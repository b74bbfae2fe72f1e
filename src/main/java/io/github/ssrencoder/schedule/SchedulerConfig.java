package io.github.ssrencoder.schedule;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import io.github.ssrencoder.io.JsonFiles;
import java.nio.file.Path;
import java.util.List;

/**
 * The training noise schedule and sampler options of a diffusers {@code scheduler/scheduler_config.json}.
 * Every scheduler is built from the same file (as {@code <Class>.from_config(pipe.scheduler.config)} does),
 * so the options whose defaults differ between diffusers classes are kept {@code null} when absent and
 * resolved by each scheduler.
 *
 * @param numTrainTimesteps training steps (1000 for SD1.5)
 * @param betaStart first beta of the training schedule
 * @param betaEnd last beta of the training schedule
 * @param betaSchedule {@code scaled_linear} or {@code linear}
 * @param stepsOffset added to {@code leading} timesteps
 * @param setAlphaToOne DDIM/PNDM final alpha; {@code null} = the class default
 * @param predictionType {@code epsilon} or {@code v_prediction}
 * @param timestepSpacing {@code leading}, {@code trailing}, {@code linspace}; {@code null} = the class default
 * @param skipPrkSteps PNDM: PLMS only; {@code null} = absent (diffusers then runs Runge-Kutta warm-up steps)
 * @param useKarrasSigmas DPM-Solver++: Karras noise levels
 * @param solverType multistep solver variant as written in the file, {@code null} when absent
 * @param originalInferenceSteps LCM: length of the distillation schedule its timesteps are taken from;
 *                               {@code null} = absent (the class default, 50)
 * @param timestepScaling LCM: factor on the timestep in the boundary-condition scalings; {@code null} = absent
 *                        (the class default, 10)
 */
public record SchedulerConfig(
        int numTrainTimesteps,
        double betaStart,
        double betaEnd,
        String betaSchedule,
        int stepsOffset,
        Boolean setAlphaToOne,
        String predictionType,
        String timestepSpacing,
        Boolean skipPrkSteps,
        boolean useKarrasSigmas,
        String solverType,
        Integer originalInferenceSteps,
        Double timestepScaling) {

    static final List<String> BETA_SCHEDULES = List.of("scaled_linear", "linear");
    static final List<String> PREDICTION_TYPES = List.of("epsilon", "v_prediction");
    static final List<String> SPACINGS = List.of("leading", "trailing", "linspace");

    /** Validates the values this package supports. */
    public SchedulerConfig {
        if (numTrainTimesteps < 2) {
            throw new IllegalArgumentException("num_train_timesteps must be at least 2, got " + numTrainTimesteps);
        }
        requireOneOf("beta_schedule", betaSchedule, BETA_SCHEDULES);
        requireOneOf("prediction_type", predictionType, PREDICTION_TYPES);
        if (timestepSpacing != null) {
            requireOneOf("timestep_spacing", timestepSpacing, SPACINGS);
        }
        if (!(betaStart > 0 && betaEnd > 0 && betaStart < 1 && betaEnd < 1)) {
            throw new IllegalArgumentException("beta_start and beta_end must lie in (0, 1), got " + betaStart + ", " + betaEnd);
        }
        if (originalInferenceSteps != null && (originalInferenceSteps < 1 || originalInferenceSteps > numTrainTimesteps)) {
            throw new IllegalArgumentException("original_inference_steps must be between 1 and num_train_timesteps = "
                    + numTrainTimesteps + ", got " + originalInferenceSteps);
        }
        if (timestepScaling != null && !(timestepScaling > 0 && Double.isFinite(timestepScaling))) {
            throw new IllegalArgumentException("timestep_scaling must be a positive number, got " + timestepScaling);
        }
    }

    /** A config without the LCM options (the schedulers other than LCM never read them). */
    public SchedulerConfig(int numTrainTimesteps, double betaStart, double betaEnd, String betaSchedule, int stepsOffset,
                           Boolean setAlphaToOne, String predictionType, String timestepSpacing, Boolean skipPrkSteps,
                           boolean useKarrasSigmas, String solverType) {
        this(numTrainTimesteps, betaStart, betaEnd, betaSchedule, stepsOffset, setAlphaToOne, predictionType, timestepSpacing,
                skipPrkSteps, useKarrasSigmas, solverType, null, null);
    }

    /** The diffusers defaults with the SD1.5 training schedule (what {@code from_config} yields for SD1.5). */
    public static SchedulerConfig stableDiffusion15() {
        return new SchedulerConfig(1000, 0.00085, 0.012, "scaled_linear", 1, false, "epsilon", null, true, false, null);
    }

    /** A copy with another prediction type. */
    public SchedulerConfig withPredictionType(String type) {
        return new SchedulerConfig(numTrainTimesteps, betaStart, betaEnd, betaSchedule, stepsOffset, setAlphaToOne, type,
                timestepSpacing, skipPrkSteps, useKarrasSigmas, solverType, originalInferenceSteps, timestepScaling);
    }

    /** A copy with another timestep spacing ({@code null} = class default). */
    public SchedulerConfig withTimestepSpacing(String spacing) {
        return new SchedulerConfig(numTrainTimesteps, betaStart, betaEnd, betaSchedule, stepsOffset, setAlphaToOne,
                predictionType, spacing, skipPrkSteps, useKarrasSigmas, solverType, originalInferenceSteps, timestepScaling);
    }

    /** A copy with another beta schedule and range. */
    public SchedulerConfig withBetas(String schedule, double start, double end) {
        return new SchedulerConfig(numTrainTimesteps, start, end, schedule, stepsOffset, setAlphaToOne, predictionType,
                timestepSpacing, skipPrkSteps, useKarrasSigmas, solverType, originalInferenceSteps, timestepScaling);
    }

    /** A copy with Karras sigmas switched on or off. */
    public SchedulerConfig withKarrasSigmas(boolean karras) {
        return new SchedulerConfig(numTrainTimesteps, betaStart, betaEnd, betaSchedule, stepsOffset, setAlphaToOne,
                predictionType, timestepSpacing, skipPrkSteps, karras, solverType, originalInferenceSteps, timestepScaling);
    }

    /** A copy with another LCM distillation schedule length ({@code null} = class default). */
    public SchedulerConfig withOriginalInferenceSteps(Integer steps) {
        return new SchedulerConfig(numTrainTimesteps, betaStart, betaEnd, betaSchedule, stepsOffset, setAlphaToOne,
                predictionType, timestepSpacing, skipPrkSteps, useKarrasSigmas, solverType, steps, timestepScaling);
    }

    /**
     * Reads a {@code scheduler_config.json}. Options that would switch the reference to an algorithm this
     * package does not implement (trained betas, sample clipping, thresholding, other solver orders...) are
     * rejected with an {@link IllegalArgumentException} naming the file, the key and what is supported.
     */
    public static SchedulerConfig read(Path file) {
        JsonObject o = JsonFiles.readObject(file);
        try {
            requireAbsentOrNull(o, "trained_betas", "only beta_schedule " + BETA_SCHEDULES + " is supported");
            requireFlag(file, o, "clip_sample", false);
            requireFlag(file, o, "thresholding", false);
            requireFlag(file, o, "rescale_betas_zero_snr", false);
            requireFlag(file, o, "use_lu_lambdas", false);
            requireFlag(file, o, "euler_at_final", false);
            requireFlag(file, o, "lower_order_final", true);
            requireFlag(file, o, "predict_x0", true);
            requireAbsentOrNull(o, "variance_type", "only null is supported");
            requireAbsentOrNull(o, "solver_p", "only null is supported");
            int order = JsonFiles.getInt(file, o, "solver_order", 2);
            if (order != 2) {
                throw new IllegalArgumentException("'solver_order' " + order + " is not supported (supported: 2)");
            }
            String algorithm = JsonFiles.getString(file, o, "algorithm_type", "dpmsolver++");
            requireOneOf("algorithm_type", algorithm, List.of("dpmsolver++"));
            String interpolation = JsonFiles.getString(file, o, "interpolation_type", "linear");
            requireOneOf("interpolation_type", interpolation, List.of("linear"));
            JsonElement disabled = o.get("disable_corrector");
            if (disabled != null && !disabled.isJsonNull()
                    && !(disabled.isJsonArray() && disabled.getAsJsonArray().isEmpty())) {
                throw new IllegalArgumentException("'disable_corrector' must be empty, got " + disabled);
            }
            JsonElement lambdaMin = o.get("lambda_min_clipped");
            if (lambdaMin != null && !lambdaMin.isJsonNull()
                    && JsonFiles.getDouble(file, o, "lambda_min_clipped", 0) != Double.NEGATIVE_INFINITY) {
                throw new IllegalArgumentException("'lambda_min_clipped' must be -Infinity, got " + lambdaMin);
            }
            Boolean alphaToOne = o.has("set_alpha_to_one") && !o.get("set_alpha_to_one").isJsonNull()
                    ? JsonFiles.getBoolean(file, o, "set_alpha_to_one", false) : null;
            Boolean skipPrk = o.has("skip_prk_steps") && !o.get("skip_prk_steps").isJsonNull()
                    ? JsonFiles.getBoolean(file, o, "skip_prk_steps", false) : null;
            Integer originalSteps = o.has("original_inference_steps") && !o.get("original_inference_steps").isJsonNull()
                    ? JsonFiles.getInt(file, o, "original_inference_steps", 0) : null;
            Double scaling = o.has("timestep_scaling") && !o.get("timestep_scaling").isJsonNull()
                    ? JsonFiles.getDouble(file, o, "timestep_scaling", 0) : null;
            return new SchedulerConfig(
                    JsonFiles.getInt(file, o, "num_train_timesteps", 1000),
                    JsonFiles.getDouble(file, o, "beta_start", 0.0001),
                    JsonFiles.getDouble(file, o, "beta_end", 0.02),
                    JsonFiles.getString(file, o, "beta_schedule", "linear"),
                    JsonFiles.getInt(file, o, "steps_offset", 0),
                    alphaToOne,
                    JsonFiles.getString(file, o, "prediction_type", "epsilon"),
                    JsonFiles.getString(file, o, "timestep_spacing", null),
                    skipPrk,
                    JsonFiles.getBoolean(file, o, "use_karras_sigmas", false),
                    JsonFiles.getString(file, o, "solver_type", null),
                    originalSteps,
                    scaling);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
        }
    }

    static void requireOneOf(String key, String value, List<String> supported) {
        if (value == null || !supported.contains(value)) {
            throw new IllegalArgumentException("'" + key + "' " + value + " is not supported (supported: "
                    + String.join(", ", supported) + ")");
        }
    }

    private static void requireAbsentOrNull(JsonObject o, String key, String why) {
        JsonElement e = o.get(key);
        if (e != null && !e.isJsonNull()) {
            throw new IllegalArgumentException("'" + key + "' must be null (" + why + "), got " + e);
        }
    }

    private static void requireFlag(Path file, JsonObject o, String key, boolean supported) {
        if (JsonFiles.getBoolean(file, o, key, supported) != supported) {
            throw new IllegalArgumentException("'" + key + "' " + !supported + " is not supported (supported: " + supported + ")");
        }
    }
}
