package io.github.ssrencoder.packaging;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.xml.parsers.DocumentBuilderFactory;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.Node;
import org.w3c.dom.NodeList;

/** Reads the versions pom-scijava (the bill of materials Fiji is released with) manages, by artifact id. */
final class PomScijava {

    private static final Pattern PROPERTY = Pattern.compile("\\$\\{([^}]+)}");

    private PomScijava() {
    }

    static Map<String, String> managedVersions(Path pom) throws Exception {
        DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
        f.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
        Document doc = f.newDocumentBuilder().parse(pom.toFile());
        Map<String, String> properties = new HashMap<>();
        Element props = child(doc.getDocumentElement(), "properties");
        if (props != null) {
            NodeList list = props.getChildNodes();
            for (int i = 0; i < list.getLength(); i++) {
                if (list.item(i) instanceof Element e) {
                    properties.put(e.getTagName(), e.getTextContent().trim());
                }
            }
        }
        Map<String, String> versions = new HashMap<>();
        Element management = child(doc.getDocumentElement(), "dependencyManagement");
        NodeList deps = child(management, "dependencies").getElementsByTagName("dependency");
        for (int i = 0; i < deps.getLength(); i++) {
            Element d = (Element) deps.item(i);
            Element artifact = child(d, "artifactId");
            Element version = child(d, "version");
            if (artifact != null && version != null) {
                versions.putIfAbsent(artifact.getTextContent().trim(), resolve(version.getTextContent().trim(), properties, 0));
            }
        }
        return versions;
    }

    private static String resolve(String value, Map<String, String> properties, int depth) {
        Matcher m = PROPERTY.matcher(value);
        if (depth > 10 || !m.find()) {
            return value;
        }
        String replacement = properties.get(m.group(1));
        if (replacement == null) {
            return value;
        }
        return resolve(value.substring(0, m.start()) + replacement + value.substring(m.end()), properties, depth + 1);
    }

    private static Element child(Node parent, String name) {
        if (parent == null) {
            return null;
        }
        NodeList list = parent.getChildNodes();
        for (int i = 0; i < list.getLength(); i++) {
            if (list.item(i) instanceof Element e && e.getTagName().equals(name)) {
                return e;
            }
        }
        return null;
    }
}
