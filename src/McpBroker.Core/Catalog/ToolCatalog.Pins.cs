using McpBroker.Config;

namespace McpBroker.Catalog;

/// <summary>Approval: the pins a listing is checked against (<c>state/pins/</c>), set by <c>tools approve</c>.</summary>
internal sealed partial class ToolCatalog
{
    /// <summary>
    /// Lists the upstream's tools afresh and approves them as they are now (all of them, or only
    /// <paramref name="tool"/>): they leave quarantine. Returns what was approved, in words.
    /// </summary>
    public async Task<Outcome<string>> ApproveAsync(string upstream, string? tool, CancellationToken ct)
    {
        if (_registry.FindModel(upstream) is not { } model)
        {
            return new BrokerError(BrokerErrorCode.UnknownTool, $"no enabled upstream named '{upstream}'",
                $"defined: {string.Join(", ", _registry.Models.Select(m => m.Name))}");
        }

        var listed = await ListAsync(model, null).WaitAsync(ct);
        if (!listed.Ok)
        {
            return listed.Error!;
        }

        var approve = listed.Value!.Where(t => tool is null || t.Name == tool).ToList();
        if (tool is not null && approve.Count == 0)
        {
            return new BrokerError(BrokerErrorCode.UnknownTool, $"upstream '{upstream}' lists no tool named '{tool}'",
                $"it lists: {string.Join(", ", listed.Value!.Select(t => t.Name))}");
        }

        var before = Current.Upstreams.GetValueOrDefault(upstream)?.Quarantined.ToDictionary(q => q.Tool.Name, q => q.Reason, StringComparer.Ordinal) ?? [];
        lock (_gate)
        {
            if (!_pins.TryGetValue(upstream, out var pins))
            {
                return new BrokerError(BrokerErrorCode.UnknownTool, $"upstream '{upstream}' was removed from the config meanwhile", "nothing to approve");
            }

            if (tool is null)
            {
                pins.Clear();
            }

            foreach (var t in approve)
            {
                pins[t.Name] = ToolPins.Pin(t, _time.GetUtcNow());
            }

            ToolPins.Save(_pinsDir, upstream, pins);
        }

        Update(model, listed.Value!);
        var released = approve.Where(t => before.ContainsKey(t.Name)).Select(t => $"{t.Name} ({before[t.Name]})").ToList();
        return $"approved {approve.Count} tool(s) of '{upstream}'" + (released.Count == 0 ? "" : $"; released from quarantine: {string.Join("; ", released)}")
            + (model.PinTools == PinSetting.False ? $"; note: upstreams.{upstream}.pin_tools is false, so pins are not enforced" : "");
    }
}
