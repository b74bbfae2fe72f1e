// SSR-Encoder example with a ControlNet: the subject is the red disc of the bundled tiny test model (an oval ROI
// as the mask query), the layout comes from a label image turned into a colour-coded control image.
// Run from the repository root (the argument, if given, is the repository root):
//   ImageJ-linux64 --headless -batch scripts/examples/generate-control.ijm
// Output: target/examples/control-generated.png and the label image as used, target/examples/control-labels.png.
root = getArgument();
if (root == "") root = getDir("cwd");
if (!endsWith(root, "/") && !endsWith(root, "\\")) root = root + File.separator;
tiny = root + "src/test/resources/golden/tiny-a";
out = root + "target/examples/";
File.makeDirectory(root + "target");
File.makeDirectory(out);

setBatchMode(true);
// A label image: background 0, two objects with labels 1 and 2.
newImage("labels", "8-bit black", 64, 64, 1);
setColor(1);
fillRect(6, 30, 24, 28);
setColor(2);
fillOval(36, 8, 22, 22);
// Colour-code the labels: a LUT (Fiji: glasbey_on_dark) and a display range of 0 … the largest label.
run("Spectrum");
setMinAndMax(0, 2);
saveAs("PNG", out + "control-labels.png");
rename("labels");

open(tiny + "/reference.png");
makeOval(7, 9, 26, 26);
run("Generate from Subject", "query=[red circle] prompt=[a red circle on a table] negative_prompt=[] scale=1 "
    + "guidance=7.5 steps=4 scheduler=unipc width=64 height=64 seed=42 images=1 use_roi mask_weight=1 "
    + "framing=center-crop control=[labels] controlnet=[" + tiny + "/controlnet] control_scale=0.8 models=[" + tiny + "]");
selectImage("SSR - a red circle on a table");
print("control used: " + Property.get("control") + ", scale " + Property.get("control_scale"));
saveAs("PNG", out + "control-generated.png");
print("SSR-Encoder ControlNet example done: " + out);
