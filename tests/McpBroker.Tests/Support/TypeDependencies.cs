using System.Reflection;
using System.Reflection.Emit;

namespace McpBroker.Tests.Support;

/// <summary>
/// The type-level dependency graph of an assembly, read by reflection: base types, interfaces, fields, properties,
/// events, method signatures, custom attributes, local variables and every type, method, field or token the IL of a
/// method refers to. A compiler-generated type (a lambda closure, an async state machine) counts as its outermost
/// declaring type, so the code inside a lambda is charged to the class that wrote it.
/// </summary>
internal static class TypeDependencies
{
    private const BindingFlags All = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance |
                                     BindingFlags.Static | BindingFlags.DeclaredOnly;

    private static readonly Dictionary<short, OpCode> OpCodes = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value);

    /// <summary>Every (from, to) pair of distinct top-level types of <paramref name="assembly"/> where from uses to.</summary>
    public static IReadOnlySet<(Type From, Type To)> Edges(Assembly assembly)
    {
        var edges = new HashSet<(Type, Type)>();
        foreach (var type in assembly.GetTypes())
        {
            var from = Outermost(type);
            foreach (var used in Uses(type))
            {
                foreach (var leaf in Flatten(used))
                {
                    if (leaf.Assembly != assembly)
                        continue;
                    var to = Outermost(leaf);
                    if (to != from)
                        edges.Add((from, to));
                }
            }
        }
        return edges;
    }

    private static Type Outermost(Type type)
    {
        while (type.DeclaringType is { } outer)
            type = outer;
        return type;
    }

    private static IEnumerable<Type> Flatten(Type type)
    {
        if (type.HasElementType)
        {
            foreach (var t in Flatten(type.GetElementType()!))
                yield return t;
            yield break;
        }
        if (type.IsGenericParameter)
            yield break;
        if (type.IsGenericType && !type.IsGenericTypeDefinition)
        {
            yield return type.GetGenericTypeDefinition();
            foreach (var argument in type.GetGenericArguments())
                foreach (var t in Flatten(argument))
                    yield return t;
            yield break;
        }
        yield return type;
    }

    private static IEnumerable<Type> Uses(Type type)
    {
        if (type.BaseType is { } baseType)
            yield return baseType;
        foreach (var i in type.GetInterfaces())
            yield return i;
        foreach (var a in Attributes(type.CustomAttributes))
            yield return a;
        foreach (var f in type.GetFields(All))
        {
            yield return f.FieldType;
            foreach (var a in Attributes(f.CustomAttributes))
                yield return a;
        }
        foreach (var p in type.GetProperties(All))
            yield return p.PropertyType;
        foreach (var e in type.GetEvents(All))
            if (e.EventHandlerType is { } handler)
                yield return handler;
        foreach (var m in type.GetMethods(All).Cast<MethodBase>().Concat(type.GetConstructors(All)))
        {
            if (m is MethodInfo mi)
                yield return mi.ReturnType;
            foreach (var p in m.GetParameters())
                yield return p.ParameterType;
            foreach (var a in Attributes(m.CustomAttributes))
                yield return a;
            foreach (var t in Body(m))
                yield return t;
        }
    }

    private static IEnumerable<Type> Attributes(IEnumerable<CustomAttributeData> attributes)
    {
        foreach (var a in attributes)
        {
            yield return a.AttributeType;
            foreach (var argument in a.ConstructorArguments.Concat(a.NamedArguments.Select(n => n.TypedValue)))
                if (argument.Value is Type t)
                    yield return t;
        }
    }

    private static List<Type> Body(MethodBase method)
    {
        var found = new List<Type>();
        MethodBody? body;
        try
        {
            body = method.GetMethodBody();
        }
        catch (Exception e) when (e is BadImageFormatException or InvalidOperationException)
        {
            return found;
        }
        if (body is null)
            return found;
        found.AddRange(body.LocalVariables.Select(l => l.LocalType));
        var il = body.GetILAsByteArray();
        if (il is null)
            return found;
        var module = method.Module;
        var typeArguments = method.DeclaringType is { IsGenericType: true } d ? d.GetGenericArguments() : null;
        var methodArguments = method.IsGenericMethod ? method.GetGenericArguments() : null;
        var i = 0;
        while (i < il.Length)
        {
            OpCode op;
            if (il[i] == 0xFE)
            {
                op = OpCodes[unchecked((short)(0xFE00 | il[i + 1]))];
                i += 2;
            }
            else
            {
                op = OpCodes[il[i]];
                i += 1;
            }
            switch (op.OperandType)
            {
                case OperandType.InlineType:
                case OperandType.InlineMethod:
                case OperandType.InlineField:
                case OperandType.InlineTok:
                    var token = BitConverter.ToInt32(il, i);
                    try
                    {
                        switch (module.ResolveMember(token, typeArguments, methodArguments))
                        {
                            case Type t:
                                found.Add(t);
                                break;
                            case FieldInfo f:
                                found.Add(f.DeclaringType!);
                                found.Add(f.FieldType);
                                break;
                            case MethodBase m:
                                found.Add(m.DeclaringType!);
                                if (m is MethodInfo mi)
                                {
                                    found.Add(mi.ReturnType);
                                    if (mi.IsGenericMethod)
                                        found.AddRange(mi.GetGenericArguments());
                                }
                                break;
                        }
                    }
                    catch (Exception e) when (e is ArgumentException or BadImageFormatException or TypeLoadException)
                    {
                        // A token that needs a generic context reflection cannot give: its declaring type is still
                        // reached through the signatures above.
                    }
                    i += 4;
                    break;
                case OperandType.InlineSwitch:
                    i += 4 + (4 * BitConverter.ToInt32(il, i));
                    break;
                case OperandType.InlineI8:
                case OperandType.InlineR:
                    i += 8;
                    break;
                case OperandType.ShortInlineBrTarget:
                case OperandType.ShortInlineI:
                case OperandType.ShortInlineVar:
                    i += 1;
                    break;
                case OperandType.InlineVar:
                    i += 2;
                    break;
                case OperandType.InlineNone:
                    break;
                default:
                    i += 4;
                    break;
            }
        }
        return found;
    }
}

/// <summary>One layer: its namespaces, its height (a layer may use the layers below it), and whether it is a leaf.</summary>
/// <param name="Leaf">A leaf (CLI-side wiring) may use what is below it, but nothing else may use it.</param>
internal sealed record Layer(string Name, int Height, string[] Namespaces, bool Leaf = false);

/// <summary>
/// Layers by height: a type may use types of its own layer and of lower layers, never of a layer as high or higher, and
/// never of a leaf. Layers of the same height are siblings that must not use each other.
/// </summary>
internal sealed class LayerRule(IReadOnlyList<Layer> layers)
{
    public Layer? Of(string? ns) => layers.FirstOrDefault(l => l.Namespaces.Contains(ns));

    /// <summary>One message per type pair whose edge points up, sideways or into a leaf, or touches a namespace no layer names.</summary>
    public IReadOnlyList<string> Violations(IEnumerable<(Type From, Type To)> edges)
    {
        var found = new List<string>();
        foreach (var (from, to) in edges)
        {
            if (!Ours(from) || !Ours(to))
                continue; // generated helpers (regex, JSON source generation, logging) live in their own namespaces
            var fromLayer = Of(from.Namespace);
            var toLayer = Of(to.Namespace);
            if (fromLayer is null)
                found.Add($"{from.FullName}: namespace {from.Namespace} is in no layer; add it to the layer order");
            else if (toLayer is null)
                found.Add($"{to.FullName}: namespace {to.Namespace} is in no layer; add it to the layer order");
            else if (fromLayer == toLayer)
                continue;
            else if (toLayer.Leaf)
                found.Add($"{from.FullName} ({fromLayer.Name}) uses {to.FullName} ({toLayer.Name}), a leaf nothing may use");
            else if (toLayer.Height >= fromLayer.Height)
                found.Add($"{from.FullName} ({fromLayer.Name}) uses {to.FullName} ({toLayer.Name}), a layer " +
                          (toLayer.Height == fromLayer.Height ? "beside" : "above") + " it");
        }
        return found.Distinct().Order(StringComparer.Ordinal).ToList();
    }

    private static bool Ours(Type type) => type.Namespace is { } ns && (ns == "McpBroker" || ns.StartsWith("McpBroker.", StringComparison.Ordinal));
}
