#@ File (label = "Input folder", style = "directory") input
#@ File (label = "Output folder", style = "directory") output
#@ String (label = "Query (names the subject)") query
#@ String (label = "Prompt") prompt
#@ String (label = "Models folder (empty = Settings)", required = false, value = "") models
#@ Integer (label = "Steps", value = 30) steps
#@ Long (label = "Seed (-1 = random)", value = 42) seed
#@ CommandService commands
#@ LogService log

// Headless batch over a folder of images: each image is a reference, its text query names the subject, and
// every image gets the same prompt and seed. Writes <name>-ssr.tif (generated images, parameters in the Info
// property) and <name>-attention.tif (heat maps) into the output folder.
//
//   ImageJ-linux64 --ij2 --headless --run scripts/examples/batch.groovy \
//     'input="/data/refs",output="/data/out",query="red mug",prompt="a red mug on a beach",models="/data/models"'

import ij.IJ
import io.github.ssrencoder.imagej.GenerateFromSubjectCommand

def images = input.listFiles().findAll { it.file && it.name ==~ /(?i).*\.(png|jpe?g|tiff?|bmp)$/ }.sort { it.name }
output.mkdirs()
images.each { file ->
    def imp = IJ.openImage(file.path)
    if (imp == null) {
        log.warn("${file.name}: not an image ImageJ can open")
        return
    }
    def module = commands.run(GenerateFromSubjectCommand, true,
            "input", imp, "query", query, "prompt", prompt, "negative_prompt", "",
            "scale", 1.0d, "guidance", 7.5d, "steps", steps, "scheduler", "unipc",
            "width", 512, "height", 512, "seed", seed, "images", 1,
            "use_roi", false, "mask_weight", 1.0d, "framing", "center-crop", "models", models).get()
    if (module.isCanceled()) {
        log.error("${file.name}: ${module.getCancelReason()}")
        return
    }
    def stem = file.name.replaceFirst(/\.[^.]+$/, "")
    IJ.saveAsTiff(module.getOutput("result"), new File(output, stem + "-ssr.tif").path)
    IJ.saveAsTiff(module.getOutput("attention"), new File(output, stem + "-attention.tif").path)
    log.info("${file.name}: seed ${module.getOutput('result').getProp('seed')}")
}
