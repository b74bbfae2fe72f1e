// SSR-Encoder example: generate from the red disc of the bundled tiny test model, with an oval ROI as the
// mask query, and save the generated images and the attention maps.
// Run from the repository root (the argument, if given, is the repository root):
//   ImageJ-linux64 --headless -batch scripts/examples/generate.ijm
// Outputs: target/examples/generated.tif (RGB stack), target/examples/generated-1.png,
//          target/examples/attention.tif (32-bit heat maps, one slice per query token plus "mean").
root = getArgument();
if (root == "") root = getDir("cwd");
if (!endsWith(root, "/") && !endsWith(root, "\\")) root = root + File.separator;
tiny = root + "src/test/resources/golden/tiny-a";
out = root + "target/examples/";
File.makeDirectory(root + "target");
File.makeDirectory(out);

setBatchMode(true);
open(tiny + "/reference.png");
reference = getTitle();
// The red disc covers x 7..32, y 9..34 of the 64×64 reference.
makeOval(7, 9, 26, 26);
run("Generate from Subject", "query=[red circle] prompt=[a red circle on a table] negative_prompt=[] scale=1 "
    + "guidance=7.5 steps=4 scheduler=unipc width=64 height=64 seed=42 images=1 use_roi mask_weight=1 "
    + "framing=center-crop models=[" + tiny + "]");
selectImage("SSR - a red circle on a table");
print("seed used: " + Property.get("seed"));
saveAs("Tiff", out + "generated.tif");
saveAs("PNG", out + "generated-1.png");
selectImage("SSR attention - red circle");
saveAs("Tiff", out + "attention.tif");

// The attention of the text query alone, without the ROI, as heat maps and as an overlay on a copy.
selectImage(reference);
run("Select None");
run("Show Query Attention", "query=[red circle] mask_weight=1 framing=center-crop overlay models=[" + tiny + "]");
selectImage("SSR attention overlay - red circle");
saveAs("Tiff", out + "attention-overlay.tif");
print("SSR-Encoder example done: " + out);
