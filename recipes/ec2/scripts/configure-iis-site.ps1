# Create an IIS application pool and site for an ASP.NET Core application, with no content yet.
# Usage: configure-iis-site.ps1 <site name> <physical path>
param(
    [Parameter(Mandatory)] [string] $SiteName,
    [Parameter(Mandatory)] [string] $SitePath
)
$ErrorActionPreference = 'Stop'
Import-Module WebAdministration

New-Item -ItemType Directory -Path $SitePath -Force | Out-Null
Set-Content -Path (Join-Path $SitePath 'app_offline.htm') -Value '<html><body>Deploying...</body></html>'

if (-not (Test-Path "IIS:\AppPools\$SiteName")) {
    New-WebAppPool -Name $SiteName | Out-Null
}
# ASP.NET Core runs out of process of the CLR: no managed runtime in the pool.
Set-ItemProperty "IIS:\AppPools\$SiteName" -Name managedRuntimeVersion -Value ''
Set-ItemProperty "IIS:\AppPools\$SiteName" -Name processModel.identityType -Value ApplicationPoolIdentity
Set-ItemProperty "IIS:\AppPools\$SiteName" -Name startMode -Value AlwaysRunning

Remove-Website -Name 'Default Web Site' -ErrorAction SilentlyContinue
if (-not (Get-Website -Name $SiteName)) {
    New-Website -Name $SiteName -PhysicalPath $SitePath -ApplicationPool $SiteName -Port 80 | Out-Null
}

$acl = Get-Acl $SitePath
$rule = New-Object System.Security.AccessControl.FileSystemAccessRule("IIS AppPool\$SiteName", 'ReadAndExecute', 'ContainerInherit,ObjectInherit', 'None', 'Allow')
$acl.AddAccessRule($rule)
Set-Acl -Path $SitePath -AclObject $acl
