package io.github.ssrencoder.imagej;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.github.ssrencoder.schedule.Schedulers;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.scijava.plugin.Parameter;

/** Every Fiji entry point offers exactly the schedulers the pipeline supports, default first. */
class SchedulerChoicesTest {

    @Test
    void fijiCommandsAndTheImageJ1DialogOfferEverySupportedScheduler() throws NoSuchFieldException {
        assertEquals(Schedulers.names(), GenerationParameters.SCHEDULERS, "GenerationParameters.SCHEDULERS (IJ1 dialog, macros)");
        for (Class<?> command : List.of(GenerateFromSubjectCommand.class, MultiSubjectGenerateCommand.class)) {
            Parameter p = command.getDeclaredField("scheduler").getAnnotation(Parameter.class);
            assertEquals(Schedulers.names(), List.of(p.choices()), command.getSimpleName() + " scheduler choices");
        }
    }
}
